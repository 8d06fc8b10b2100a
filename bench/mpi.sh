#!/usr/bin/env bash
# Data-parallel training on one machine: `mpirun -np 2` with 1 thread per rank against 1
# process with 2 threads, on bench/train.sh's recipe (byte-level tinyshakespeare, dim 128,
# 4 layers, 4 heads, hidden 352, context 64, AdamW 1e-3 → 1e-4, warmup 100) with its global
# batch of 12 sequences taken as 2 micro-batches of 6 (ranks take whole micro-batches), for
# STEPS steps (default 200, not the recipe's 2000; loss estimates over --eval-steps 20 batches,
# the final validation loss over the whole split). Also the recipe as bench/train.sh runs
# it (1 micro-batch of 12, 2 threads) for reference, and the all-reduce time per step.
#
# Usage: [BIND=core|none] bench/mpi.sh [STEPS]       (needs Open MPI: apt-get install openmpi-bin libopenmpi-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
STEPS=${1:-200}
SHARED=${SWIFTLLAMA_SHARED:-../shared}
CORPUS=$SHARED/data/tinyshakespeare.txt
WORK=$(mktemp -d /tmp/swiftllama-bench-mpi.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --traits MPI --scratch-path .build-mpi --product llama >/dev/null
LLAMA=.build-mpi/release/llama
$LLAMA train-tokenizer "$CORPUS" --vocab-size 256 --out "$WORK/bytes.tiktoken" >/dev/null
$LLAMA prepare "$CORPUS" --tokenizer "$WORK/bytes.tiktoken" --out "$WORK/data" >/dev/null 2>&1
RECIPE=(train --data "$WORK/data" --steps "$STEPS" --dim 128 --layers 4 --heads 4 --kv-heads 4 --hidden 352
        --context 64 --lr 1e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 --beta1 0.9 --beta2 0.99
        --clip 1.0 --seed 1337 --json)

echo "1 process, 2 threads, batch 12 (bench/train.sh's)..." >&2
A=$($LLAMA "${RECIPE[@]}" --batch 12 --grad-accum 1 --threads 2 --out "$WORK/a" 2>/dev/null)
echo "1 process, 2 threads, batch 6 x grad-accum 2..." >&2
B=$($LLAMA "${RECIPE[@]}" --batch 6 --grad-accum 2 --threads 2 --out "$WORK/b" 2>/dev/null)
echo "mpirun -np 2, 1 thread per rank, batch 6 x grad-accum 2..." >&2
C=$(mpirun --allow-run-as-root --oversubscribe --bind-to "${BIND:-core}" -np 2 \
      $LLAMA "${RECIPE[@]}" --batch 6 --grad-accum 2 --threads 1 --out "$WORK/c" 2>"$WORK/c.err")
grep "ranks:" "$WORK/c.err" >&2 || true

python3 - "$STEPS" "$A" "$B" "$C" <<'PY'
import json, sys
steps = int(sys.argv[1])
rows = [("1 proc x 2 thr, 12x1", json.loads(sys.argv[2])), ("1 proc x 2 thr, 6x2", json.loads(sys.argv[3])),
        ("2 ranks x 1 thr, 6x2", json.loads(sys.argv[4]))]
print(f"{'':24}{'tokens/s':>10}{'train s':>9}{'allreduce ms/step':>19}{'train':>8}{'val':>8}")
for name, r in rows:
    ms = 1000 * r.get("allreduce_s", 0) / max(1, r["steps"])
    print(f"{name:24}{r['tokens_per_s']:>10.0f}{r['wall_s']:>9.1f}{ms:>19.2f}{r['train_loss']:>8.4f}{r['val_loss']:>8.4f}")
b, c = rows[1][1], rows[2][1]
print(f"2 ranks / 1 process (same global batch 6x2): {c['tokens_per_s'] / b['tokens_per_s']:.2f}x;"
      f" same losses: {b['train_loss'] == c['train_loss'] and b['val_loss'] == c['val_loss']}")
print(f"parameters {b['params']}: {b['params'] * 4 / 1e6:.2f} MB of fp32 gradients all-reduced per step")
PY
