#!/usr/bin/env bash
# Trains the PyTorch reference recipe (../shared/tools/torch_train_ref.py: byte-level
# tinyshakespeare, dim 128, 4 layers, 4 heads, hidden 352, context 64, batch 12, 2000 steps,
# AdamW 1e-3 → 1e-4, warmup 100, wd 0.1, betas 0.9/0.99, clip 1.0) with `llama train` and
# with PyTorch, one after the other on the same machine, REPEATS times alternating, and prints
# both and the ratio of each run.
#
# Usage: bench/train.sh [STEPS] [THREADS] [REPEATS]   (defaults 2000, 2, 1; env TORCH_PYTHON:
#                                                     a python with torch+numpy, default python3;
#                                                     PRECISION, TORCH_AUTOCAST: see below)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2000}
THREADS=${2:-2}
REPEATS=${3:-1}
SHARED=${SWIFTLLAMA_SHARED:-../shared}
CORPUS=$SHARED/data/tinyshakespeare.txt
PY=${TORCH_PYTHON:-python3}
# PRECISION=bf16: `llama train --precision bf16` (bf16 products, AVX-512 BF16 CPUs);
# TORCH_AUTOCAST=1: PyTorch under torch.autocast("cpu", dtype=torch.bfloat16)
# (bench/torch_train_shards.py --autocast) instead of plain fp32.
PRECISION=${PRECISION:-fp32}
AUTOCAST=()
if [ "${TORCH_AUTOCAST:-0}" = 1 ]; then AUTOCAST=(--autocast); fi
WORK=$(mktemp -d /tmp/swiftllama-bench-train.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --product llama >/dev/null
LLAMA=.build/release/llama
# Vocabulary 256 = the plain bytes, as the reference (ids 256/257 are BOS/EOS, unused here).
$LLAMA train-tokenizer "$CORPUS" --vocab-size 256 --out "$WORK/bytes.tiktoken" >/dev/null
$LLAMA prepare "$CORPUS" --tokenizer "$WORK/bytes.tiktoken" --out "$WORK/data" >/dev/null

RESULTS=()
for r in $(seq "$REPEATS"); do
  echo "run $r/$REPEATS: SwiftLlama ($THREADS threads, $STEPS steps)... (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  # --eval-steps 0: final losses over whole splits, as the reference computes them.
  OURS=$($LLAMA train --data "$WORK/data" --out "$WORK/run$r" --steps "$STEPS" --threads "$THREADS" \
    --dim 128 --layers 4 --heads 4 --kv-heads 4 --hidden 352 --context 64 --batch 12 \
    --lr 1e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 --beta1 0.9 --beta2 0.99 --clip 1.0 \
    --seed 1337 --eval-steps 0 --precision "$PRECISION" --json 2>/dev/null)
  echo "run $r/$REPEATS: PyTorch ($THREADS threads, $STEPS steps)... (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if [ ${#AUTOCAST[@]} -gt 0 ]; then
    # The reference recipe through the shard-reading copy (same model, data split and
    # evaluation on a text file), which has --autocast.
    THEIRS=$("$PY" bench/torch_train_shards.py "$CORPUS" --iters "$STEPS" --threads "$THREADS" "${AUTOCAST[@]}" 2>/dev/null | tail -1)
  else
    THEIRS=$("$PY" "$SHARED/tools/torch_train_ref.py" "$CORPUS" --iters "$STEPS" --threads "$THREADS" 2>/dev/null | tail -1)
  fi
  RESULTS+=("$OURS" "$THEIRS")
done

python3 bench/train_summary.py "${RESULTS[@]}"
