#!/usr/bin/env bash
# Trains the model the README's main command runs (models/shakespeare.gguf), from scratch, on
# ../shared/data/tinyshakespeare.txt, with SwiftLlama's own commands. Takes ~10 minutes on
# 2 cores. The work directory (tokenizer, shards, run) is $WORK (default /tmp/swiftllama-ship).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SWIFTLLAMA_SHARED:-../shared}
WORK=${WORK:-/tmp/swiftllama-ship}
mkdir -p "$WORK"
swift build -c release --product llama
L=.build/release/llama
$L train-tokenizer "$SHARED/data/tinyshakespeare.txt" --vocab-size 1024 --out "$WORK/shakespeare.tiktoken"
$L prepare "$SHARED/data/tinyshakespeare.txt" --tokenizer "$WORK/shakespeare.tiktoken" --out "$WORK/data"
$L train --data "$WORK/data" --out "$WORK/run" --force \
  --dim 128 --layers 4 --heads 4 --kv-heads 2 --hidden 352 --context 128 --tied \
  --batch 16 --steps 2000 --lr 2e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 \
  --eval-every 250 --eval-steps 8 --save-every 250 --seed 1337 --json
$L export "$WORK/run" --to models/shakespeare.gguf --type f16
