#!/usr/bin/env bash
# Makes the files of the README's side-by-side table for the K/IQ types and Q4_1/Q5_0/Q5_1: a
# random-weight model of the Llama 3.2 1B body (dim 2048, 16 layers, 32 heads, 8 kv heads,
# hidden 8192; the shipped 1024-token vocabulary instead of 128 256, tied embeddings), F16,
# then
#   - q5_k_m, q6_k, q4_1, q5_0, q5_1 by `llama quantize` (byte-identical blocks to llama.cpp's
#     reference quantizers; the K mixes choose tensor types as llama-quantize does; q4_1/q5_0/
#     q5_1 are uniform, as llama-quantize --pure),
#   - q2_K, q3_K, iq4_nl, iq4_xs (which `llama quantize` does not write) by llama.cpp's own
#     quantizers through scripts/make_ktypes_fixture.py: every 2-D tensor of that type, as
#     llama-quantize --pure.
#
#   bench/make-ktype-models.sh OUTDIR      (LLAMACPP_DIR as for bench/llamacpp.sh: its source)
# then: bench/llamacpp.sh -t 2 -p 512 -n 128 -r 2 OUTDIR/model-*.gguf
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
out="${1:?usage: bench/make-ktype-models.sh OUTDIR}"
vendor="$dir/llama_cpp_python-0.3.36/vendor/llama.cpp"
[ -f "$vendor/ggml/src/ggml-quants.c" ] || { echo "no llama.cpp source under $dir (run bench/llamacpp.sh --build)" >&2; exit 1; }
mkdir -p "$out"
(cd "$repo" && swift build -c release --product llama >&2)
llama="$repo/.build/release/llama"
[ -f "$out/model-f16.gguf" ] || "$llama" make-random-model --vocab "$repo/models/shakespeare.gguf" --out "$out/model-f16.gguf" \
    --dim 2048 --layers 16 --heads 32 --kv-heads 8 --hidden 8192 --seed 1
for t in q5_k_m q6_k q4_1 q5_0 q5_1; do
    [ -f "$out/model-$t.gguf" ] || "$llama" quantize "$out/model-f16.gguf" "$out/model-$t.gguf" --type $t
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O3 -DNDEBUG -std=gnu11 -I"$vendor/ggml/include" -I"$vendor/ggml/src" -c "$vendor/ggml/src/ggml-quants.c" -o "$work/quants.o"
cc -O2 -I"$vendor/ggml/include" "$repo/scripts/llamacpp_quantize_driver.c" "$work/quants.o" -lm -o "$work/driver"
for t in q2_K q3_K iq4_nl iq4_xs; do
    [ -f "$out/model-$t.gguf" ] || PYTHONPATH="$vendor/gguf-py" python3 "$repo/scripts/make_ktypes_fixture.py" "$work/driver" "$out/model-f16.gguf" $t "$out/model-$t.gguf"
done
ls -l "$out"
