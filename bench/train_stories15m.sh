#!/usr/bin/env bash
# Training speed on the stories15M shape (dim 288, 6 layers, 6 heads, hidden 768, context 256,
# batch 8) with a 4096-token tokenizer of ours trained on tinyshakespeare: `llama train` and
# PyTorch (bench/torch_train_shards.py, the reference script extended to read our token
# shards) train on the same token shards for the same number of steps, one after the other,
# REPEATS times alternating, and the script prints tokens/s of each, the ratio, and the losses
# (final val loss over the whole val split; train loss over 20 batches of windows spread over
# the train split, the same windows for both).
#
# Usage: bench/train_stories15m.sh [STEPS] [THREADS] [REPEATS]   (defaults 30, 2, 1; env
#        TORCH_PYTHON: a python with torch+numpy, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-30}
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
WORK=$(mktemp -d /tmp/swiftllama-bench-stories.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --product llama >/dev/null
LLAMA=.build/release/llama
$LLAMA train-tokenizer "$CORPUS" --vocab-size 4096 --out "$WORK/sh4096.tiktoken" >/dev/null
$LLAMA prepare "$CORPUS" --tokenizer "$WORK/sh4096.tiktoken" --out "$WORK/data" >/dev/null

SHAPE=(--dim 288 --layers 6 --heads 6 --kv-heads 6 --hidden 768 --context 256 --batch 8)
WARMUP=$(( STEPS / 10 > 0 ? STEPS / 10 : 1 ))
RESULTS=()
for r in $(seq "$REPEATS"); do
  echo "run $r/$REPEATS: SwiftLlama ($THREADS threads, $STEPS steps)... (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  OURS=$($LLAMA train --data "$WORK/data" --out "$WORK/run$r" --steps "$STEPS" --threads "$THREADS" "${SHAPE[@]}" \
    --lr 1e-3 --min-lr 1e-4 --warmup "$WARMUP" --weight-decay 0.1 --beta1 0.9 --beta2 0.99 --clip 1.0 \
    --seed 1337 --eval-steps 20 --precision "$PRECISION" --json 2>/dev/null)
  echo "run $r/$REPEATS: PyTorch ($THREADS threads, $STEPS steps)... (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  THEIRS=$("$PY" bench/torch_train_shards.py "$WORK/data" --iters "$STEPS" --threads "$THREADS" "${SHAPE[@]}" \
    --warmup "$WARMUP" --train-eval-windows $(( 20 * 8 )) ${AUTOCAST[@]+"${AUTOCAST[@]}"} 2>/dev/null | tail -1)
  RESULTS+=("$OURS" "$THEIRS")
done

python3 bench/train_summary.py "${RESULTS[@]}"
