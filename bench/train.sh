#!/usr/bin/env bash
# Trains the PyTorch reference recipe (../shared/tools/torch_train_ref.py: byte-level
# tinyshakespeare, dim 128, 4 layers, 4 heads, hidden 352, context 64, batch 12, 2000 steps,
# AdamW 1e-3 → 1e-4, warmup 100, wd 0.1, betas 0.9/0.99, clip 1.0) with `llama train` and
# with PyTorch, one after the other on the same machine, and prints both and the ratio.
#
# Usage: bench/train.sh [STEPS] [THREADS]     (env TORCH_PYTHON: a python with torch+numpy,
#                                             default /work/peers-torch/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2000}
THREADS=${2:-2}
SHARED=${SWIFTLLAMA_SHARED:-../shared}
CORPUS=$SHARED/data/tinyshakespeare.txt
PY=${TORCH_PYTHON:-/work/peers-torch/bin/python}
WORK=$(mktemp -d /tmp/swiftllama-bench-train.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --product llama >/dev/null
LLAMA=.build/release/llama
# Vocabulary 256 = the plain bytes, as the reference (ids 256/257 are BOS/EOS, unused here).
$LLAMA train-tokenizer "$CORPUS" --vocab-size 256 --out "$WORK/bytes.tiktoken" >/dev/null
$LLAMA prepare "$CORPUS" --tokenizer "$WORK/bytes.tiktoken" --out "$WORK/data" >/dev/null

echo "SwiftLlama ($THREADS threads, $STEPS steps)..." >&2
# --eval-steps 0: final losses over whole splits, as the reference computes them.
OURS=$($LLAMA train --data "$WORK/data" --out "$WORK/run" --steps "$STEPS" --threads "$THREADS" \
  --dim 128 --layers 4 --heads 4 --kv-heads 4 --hidden 352 --context 64 --batch 12 \
  --lr 1e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 --beta1 0.9 --beta2 0.99 --clip 1.0 \
  --seed 1337 --eval-steps 0 --json 2>/dev/null)
echo "PyTorch ($THREADS threads, $STEPS steps)..." >&2
THEIRS=$("$PY" "$SHARED/tools/torch_train_ref.py" "$CORPUS" --iters "$STEPS" --threads "$THREADS" 2>/dev/null | tail -1)

echo "swiftllama: $OURS"
echo "pytorch:    $THEIRS"
python3 - "$OURS" "$THEIRS" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':12}{'tokens/s':>10}{'wall s':>9}{'train':>8}{'val':>8}")
for name, r in (("swiftllama", a), ("pytorch", b)):
    print(f"{name:12}{r['tokens_per_s']:>10.0f}{r['wall_s']:>9.1f}{r['train_loss']:>8.4f}{r['val_loss']:>8.4f}")
print(f"speed ratio swiftllama/pytorch: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x")
PY
