#!/usr/bin/env bash
# MPI on one machine, `mpirun -np 2` with 1 thread per rank against 1 process with 2 threads:
#
# Model-parallel generation (PART=generate or all): `llama generate` on a 1B-shaped model
# (GEN_MODEL, default: a random-weight Llama 3.2 1B body in Q4_0 made once under
# ~/.cache/swiftllama-bench, as bench/make-ktype-models.sh makes its F16), greedy, GEN_TOKENS
# tokens (default 64) after a short prompt: tokens/s of prompt and generation, and rank 0's
# time in collectives per generated token (2 all-reduces of dim floats per layer, the logits'
# all-gather, the token's broadcast; waiting for the slower rank included).
#
# Data-parallel training (PART=train or all): on bench/train.sh's recipe (byte-level tinyshakespeare, dim 128,
# 4 layers, 4 heads, hidden 352, context 64, AdamW 1e-3 → 1e-4, warmup 100) with its global
# batch of 12 sequences taken as 2 micro-batches of 6 (ranks take whole micro-batches), for
# STEPS steps (default 200, not the recipe's 2000; loss estimates over --eval-steps 20 batches,
# the final validation loss over the whole split). Also the recipe as bench/train.sh runs
# it (1 micro-batch of 12, 2 threads) for reference, and the all-reduce time per step.
#
# Usage: [BIND=core|none] [PART=all|train|generate] [GEN_MODEL=M.gguf] bench/mpi.sh [STEPS]
#        (needs Open MPI: apt-get install openmpi-bin libopenmpi-dev)
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
PART=${PART:-all}

if [ "$PART" = all ] || [ "$PART" = generate ]; then
  MODEL=${GEN_MODEL:-}
  if [ -z "$MODEL" ]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-bench
    MODEL=$cache/model-1b-q4_0.gguf
    if [ ! -f "$MODEL" ]; then
      mkdir -p "$cache"
      echo "making $MODEL (random weights, the Llama 3.2 1B body)..." >&2
      $LLAMA make-random-model --vocab models/shakespeare.gguf --out "$WORK/f16.gguf" \
        --dim 2048 --layers 16 --heads 32 --kv-heads 8 --hidden 8192 --seed 1
      $LLAMA quantize "$WORK/f16.gguf" "$cache/tmp.gguf" --type q4_0 >/dev/null && mv "$cache/tmp.gguf" "$MODEL"
      rm -f "$WORK/f16.gguf"
    fi
  fi
  GEN=(generate --model "$MODEL" --temperature 0 --max-tokens "${GEN_TOKENS:-64}" --verbose "Once upon a time, in a land far away")
  echo "generation on $MODEL: 1 process x 2 threads, 1 process x 1 thread, mpirun -np 2 x 1 thread..." >&2
  # Each process's peak resident memory (mapped weights it touched included).
  TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "maxrss_kb %M")
  "${TIME[@]}" $LLAMA "${GEN[@]}" --threads 2 > "$WORK/g2.out" 2> "$WORK/g2.err"
  "${TIME[@]}" $LLAMA "${GEN[@]}" --threads 1 > "$WORK/g1.out" 2> "$WORK/g1.err"
  mpirun --allow-run-as-root --oversubscribe --bind-to "${BIND:-core}" -np 2 \
    "${TIME[@]}" $LLAMA "${GEN[@]}" --threads 1 > "$WORK/gm.out" 2> "$WORK/gm.err"
  python3 - "$WORK" <<'PY'
import re, sys
w = sys.argv[1]
def read(name):
    err = open(f"{w}/{name}.err").read()
    p = re.search(r"prompt: (\d+) tokens in ([\d.]+) s, ([\d.]+) tokens/s", err)
    g = re.search(r"generation: (\d+) tokens in ([\d.]+) s, ([\d.]+) tokens/s", err)
    m = re.search(r"model-parallel: (\d+) ranks, (\d+) collectives, ([\d.]+) s communicating \(([\d.]+) ms per token\)", err)
    if not (p and g): sys.exit(f"{name}: no timing lines in\n{err}")
    rss = [int(x) / 1024 for x in re.findall(r"maxrss_kb (\d+)", err)]
    return dict(pp=float(p.group(3)), n=int(g.group(1)), tg=float(g.group(3)), comm=float(m.group(4)) if m else 0.0,
                rss=" + ".join(f"{x:.0f}" for x in rss) or "?", text=open(f"{w}/{name}.out").read())
rows = [("1 proc x 2 threads", read("g2")), ("1 proc x 1 thread", read("g1")), ("2 ranks x 1 thread", read("gm"))]
print(f"{'':22}{'prompt t/s':>11}{'gen tokens':>11}{'gen t/s':>9}{'comm ms/token':>15}  peak RSS MiB (per process)")
for name, r in rows:
    print(f"{name:22}{r['pp']:>11.1f}{r['n']:>11}{r['tg']:>9.2f}{r['comm']:>15.2f}  {r['rss']}")
a, c = rows[0][1], rows[2][1]
print(f"2 ranks / 1 process with 2 threads, generation: {c['tg'] / a['tg']:.2f}x; same text: {a['text'] == c['text']}")
PY
fi
[ "$PART" = all ] || [ "$PART" = train ] || exit 0
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
