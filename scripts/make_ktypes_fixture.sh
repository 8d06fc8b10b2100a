#!/usr/bin/env bash
# Rebuilds Tests/LlamaTests/Fixtures/ktypes/: a random-weight Llama whose rows are multiples
# of 256 (dim 256, hidden 768, 2 layers, 4 heads, 2 kv heads, the shipped model's 1024-token
# vocabulary, F16), requantized per type (Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS: every 2-D tensor,
# output and embeddings included) by llama.cpp's own quantizers
# (scripts/llamacpp_quantize_driver.c against ggml-quants.c of the llama.cpp tree that
# bench/llamacpp.sh fetches; the blocks llama-quantize writes without an importance matrix),
# with reference logits per file from scripts/make_kquant_fixture.py (gguf-py dequantization +
# numpy float64 forward).
#
#   scripts/make_ktypes_fixture.sh [--dir LLAMACPP_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
[ "${1:-}" = "--dir" ] && dir="$2"
vendor="$dir/llama_cpp_python-0.3.36/vendor/llama.cpp"
[ -f "$vendor/ggml/src/ggml-quants.c" ] || { echo "no llama.cpp source under $dir (run bench/llamacpp.sh --build)" >&2; exit 1; }
export PYTHONPATH="$vendor/gguf-py${PYTHONPATH:+:$PYTHONPATH}"
out=Tests/LlamaTests/Fixtures/ktypes
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O3 -DNDEBUG -std=gnu11 -I"$vendor/ggml/include" -I"$vendor/ggml/src" -c "$vendor/ggml/src/ggml-quants.c" -o "$work/quants.o"
cc -O2 -I"$vendor/ggml/include" scripts/llamacpp_quantize_driver.c "$work/quants.o" -lm -o "$work/driver"
swift build --product llama >&2
.build/debug/llama make-random-model --vocab models/shakespeare.gguf --out "$work/f16.gguf" \
    --dim 256 --layers 2 --heads 4 --kv-heads 2 --hidden 768 --seed 7
for t in q2_K q3_K q5_K iq4_nl iq4_xs; do
    python3 scripts/make_ktypes_fixture.py "$work/driver" "$work/f16.gguf" $t "$out/model-$t.gguf"
    python3 scripts/make_kquant_fixture.py "$out/model-$t.gguf" "$out/ref-$t.json" --long 100
done
ls -l "$out"
