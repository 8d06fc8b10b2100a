#!/usr/bin/env bash
# Makes the files for the side-by-side table of the K/IQ types (README, "Model speed"): a
# random-weight model of the Llama 3.2 1B body (dim 2048, 16 layers, 32 heads, 8 kv heads,
# hidden 8192; the shipped 1024-token vocabulary instead of 128 256, so the embedding and
# output matrices are small), F16, then llama.cpp's own llama-quantize with its defaults for
# each type (q2_k, q3_k_m, q4_k_m, q5_k_m, q6_k, iq4_nl, iq4_xs, q4_1, q5_0, q5_1).
#
#   bench/make-ktype-models.sh OUTDIR [TYPE...]      (LLAMACPP_DIR as for bench/llamacpp.sh)
# then: bench/llamacpp.sh -t 2 -p 512 -n 128 -r 2 OUTDIR/model-*.gguf
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
out="${1:?usage: bench/make-ktype-models.sh OUTDIR [TYPE...]}"
shift
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(q2_k q3_k_m q4_k_m q5_k_m q6_k iq4_nl iq4_xs q4_1 q5_0 q5_1)
mkdir -p "$out"
(cd "$repo" && swift build -c release --product llama >&2)
if [ ! -f "$out/model-f16.gguf" ]; then
    "$repo/.build/release/llama" make-random-model --vocab "$repo/models/shakespeare.gguf" --out "$out/model-f16.gguf" \
        --dim 2048 --layers 16 --heads 32 --kv-heads 8 --hidden 8192 --seed 1
fi
for t in "${types[@]}"; do
    [ -f "$out/model-$t.gguf" ] || "$dir/build/bin/llama-quantize" "$out/model-f16.gguf" "$out/model-$t.gguf" "$t" >"$out/quantize-$t.log" 2>&1
done
ls -l "$out"
