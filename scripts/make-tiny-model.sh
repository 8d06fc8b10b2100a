#!/bin/sh
# Rebuilds models/tiny-random.gguf: a random-weight Llama (dim 48, 2 layers, 4 heads,
# 2 kv heads, hidden 128, tied embeddings, F16) carrying the Llama 2 vocabulary.
# Deterministic: the same seed gives the same bytes.
set -e
cd "$(dirname "$0")/.."
swift build -c release --product llama
.build/release/llama make-random-model \
    --vocab ../shared/vocab/ggml-vocab-llama-spm.gguf \
    --out models/tiny-random.gguf --seed 1
