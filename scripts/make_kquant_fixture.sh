#!/usr/bin/env bash
# Rebuilds Tests/LlamaTests/Fixtures/kquant/: a random-weight Llama (dim 256, 2 layers,
# 4 heads, 2 kv heads, hidden 512, the shipped model's 1024-token vocabulary, F16) quantized
# by llama.cpp's own llama-quantize to Q4_K_M (Q4_K and Q6_K tensors), and its reference
# logits from scripts/make_kquant_fixture.py (gguf-py dequantization + numpy forward).
#
#   scripts/make_kquant_fixture.sh [--dir LLAMACPP_DIR] [--python PYTHON_WITH_NUMPY_AND_GGUF]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
py=python3
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --python) py="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
out=Tests/LlamaTests/Fixtures/kquant
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release --product llama >&2
.build/release/llama make-random-model --vocab models/shakespeare.gguf --out "$work/f16.gguf" \
    --dim 256 --layers 2 --heads 4 --kv-heads 2 --hidden 512 --seed 3
"$dir/build/bin/llama-quantize" "$work/f16.gguf" "$out/model-q4_k_m.gguf" q4_k_m >"$work/quantize.log" 2>&1 || { cat "$work/quantize.log" >&2; exit 1; }
"$py" scripts/make_kquant_fixture.py "$out/model-q4_k_m.gguf" "$out/ref.json"
