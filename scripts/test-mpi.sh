#!/usr/bin/env bash
# The MPI tests: builds `llama` with the MPI trait (into .build-mpi, beside the default
# .build) and checks data-parallel training under `mpirun -np 2` against one process:
#   - 50 steps on 2 ranks give the same losses (every digit of log.csv and --json) and the
#     same weights and AdamW moments, bit for bit, as 1 process on the same global batch;
#   - a 2-rank run stopped at step 25 and resumed on 2 ranks ends bit for bit like the
#     uninterrupted one;
#   - only rank 0 writes stdout (train --json, generate) and the run directory;
#   - model-parallel generation: `mpirun -np 2 llama generate` on the two-shard Meta
#     directory fixtures/dev-odd/meta (rank r reads consolidated.0r.pth) and on GGUFs gives
#     the single process's --logits-out within 1e-5 and the same greedy text and ids;
#   - bad setups fail with clear errors (--grad-accum not divisible by the ranks; ranks
#     started with different flags; a build without MPI under mpirun; a Meta shard count
#     other than -np; heads not divisible by -np; quantized columns off their blocks; ranks
#     on different model files).
# Installs Open MPI (openmpi-bin, libopenmpi-dev) with apt-get when missing (as root).
#   scripts/test-mpi.sh [debug|release]      (default: debug, quicker to build)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
CONFIG=${1:-debug}

if ! command -v mpirun >/dev/null 2>&1 || ! pkg-config --exists ompi 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "scripts/test-mpi.sh: installing openmpi-bin libopenmpi-dev with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
  else
    echo "scripts/test-mpi.sh: Open MPI missing (install openmpi-bin libopenmpi-dev with apt-get as root)" >&2
    exit 1
  fi
fi

start=$(date +%s)
swift build -c "$CONFIG" --traits MPI --scratch-path .build-mpi --product llama
LLAMA=$PWD/.build-mpi/$CONFIG/llama
echo "test-mpi: built $LLAMA in $(( $(date +%s) - start )) s" >&2
# CI runs as root; 2 ranks on however few cores; no binding (each rank sets its threads).
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
export OMPI_MCA_btl_vader_single_copy_mechanism=none  # containers often forbid CMA

WORK=$(mktemp -d /tmp/swiftllama-test-mpi.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*" >&2; }

# A byte-level tokenizer and 20 kB of text: enough for 50 steps of a tiny model.
SHARED=${SWIFTLLAMA_SHARED:-../shared}
head -c 20000 "$SHARED/data/tinyshakespeare.txt" > "$WORK/corpus.txt"
"$LLAMA" train-tokenizer "$WORK/corpus.txt" --vocab-size 256 --out "$WORK/bytes.tiktoken" >/dev/null
"$LLAMA" prepare "$WORK/corpus.txt" --tokenizer "$WORK/bytes.tiktoken" --out "$WORK/data" >/dev/null 2>&1

# min-lr = lr: the learning rate after warmup does not depend on --steps, so a run of 25
# steps resumed to 50 is the same run as 50 straight.
TRAIN=(train --data "$WORK/data" --dim 16 --layers 2 --heads 4 --kv-heads 2 --hidden 32 --context 16
       --batch 2 --grad-accum 4 --lr 3e-3 --min-lr 3e-3 --warmup 5 --eval-every 10 --eval-steps 2
       --threads 1 --json)

"$LLAMA" "${TRAIN[@]}" --steps 50 --out "$WORK/one" > "$WORK/one.json" 2> "$WORK/one.err" || { cat "$WORK/one.err" >&2; fail "1-process run"; }
"${MPIRUN[@]}" "$LLAMA" "${TRAIN[@]}" --steps 50 --out "$WORK/two" > "$WORK/two.json" 2> "$WORK/two.err" || { cat "$WORK/two.err" >&2; fail "2-rank run"; }
"${MPIRUN[@]}" "$LLAMA" "${TRAIN[@]}" --steps 25 --out "$WORK/split" > /dev/null 2> "$WORK/split.err" || { cat "$WORK/split.err" >&2; fail "2-rank run to step 25"; }
"${MPIRUN[@]}" "$LLAMA" train --resume "$WORK/split" --steps 50 --threads 1 --json > "$WORK/split.json" 2> "$WORK/split2.err" || { cat "$WORK/split2.err" >&2; fail "2-rank resume"; }
grep -h "ranks:" "$WORK/two.err" >&2 || true

# Compares two runs: log.csv (every column but the timings), the --json losses, and the
# checkpoint's header (step, RNG, AdamW step) and floats (weights, m, v), byte for byte.
compare() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, struct, sys
a, b, ja, jb = sys.argv[1:5]
def log(d):
    rows = [l.split(",") for l in open(d + "/log.csv").read().splitlines()]
    return [r[:4] + r[6:] for r in rows]  # drop tokens_per_s and train_s
def ckpt(d):
    raw = open(d + "/checkpoint.bin", "rb").read()
    n = struct.unpack("<Q", raw[8:16])[0]
    h = json.loads(raw[16:16 + n])
    start = (16 + n + 63) // 64 * 64  # the floats start at the next multiple of 64
    return {k: h[k] for k in ("step", "rng", "adam_step")}, raw[start:]
def summary(p):
    lines = [l for l in open(p).read().splitlines() if l.strip()]
    assert len(lines) == 1, f"{p}: {len(lines)} stdout lines, expected 1 (rank 0 only)"
    j = json.loads(lines[0])
    return {k: j[k] for k in ("train_loss", "val_loss", "steps", "params")}
problems = []
if log(a) != log(b):
    diff = [(x, y) for x, y in zip(log(a), log(b)) if x != y]
    problems.append(f"log.csv differs, first: {diff[:2]}")
ha, fa = ckpt(a); hb, fb = ckpt(b)
if ha != hb: problems.append(f"checkpoint headers differ: {ha} vs {hb}")
if fa != fb:
    import array
    x, y = array.array("f", fa), array.array("f", fb)
    worst = max(abs(p - q) for p, q in zip(x, y))
    problems.append(f"checkpoint floats differ (largest difference {worst:g})")
sa, sb = summary(ja), summary(jb)
if sa != sb: problems.append(f"--json summaries differ: {sa} vs {sb}")
print("; ".join(problems) if problems else f"identical: {sa}")
sys.exit(1 if problems else 0)
PY
}
out=$(compare "$WORK/one" "$WORK/two" "$WORK/one.json" "$WORK/two.json") && pass "2 ranks = 1 process after 50 steps, bit for bit ($out)" || fail "2 ranks vs 1 process: $out"
out=$(compare "$WORK/two" "$WORK/split" "$WORK/two.json" "$WORK/split.json") && pass "2-rank resume at step 25 = uninterrupted 2-rank run ($out)" || fail "resume under MPI: $out"
[ "$(ls "$WORK/two")" = "$(ls "$WORK/one")" ] && pass "rank 0 alone wrote the run directory ($(ls "$WORK/two" | tr '\n' ' '))" || fail "run directories differ: $(ls "$WORK/two") vs $(ls "$WORK/one")"

# Model-parallel generate: each rank its heads and feed-forward rows; rank 0 prints once.
GEN=(generate --model "$WORK/one" --max-tokens 12 --temperature 0 --threads 1 "ROMEO:")
"$LLAMA" "${GEN[@]}" > "$WORK/gen1.txt" 2>/dev/null || fail "generate"
"${MPIRUN[@]}" "$LLAMA" "${GEN[@]}" > "$WORK/gen2.txt" 2>/dev/null || fail "generate under mpirun"
cmp -s "$WORK/gen1.txt" "$WORK/gen2.txt" && [ -s "$WORK/gen1.txt" ] && pass "generate (the trained run) under mpirun -np 2 prints once, as one process" || fail "generate stdout under mpirun differs: $(cat "$WORK/gen2.txt")"

# Compares the logits files of one process and of rank 0 of a 2-rank job (max |difference|).
same_logits() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
worst = max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) and a else float("inf")
print(f"{len(a)} logits, max |difference| {worst:.2e}")
sys.exit(0 if worst <= 1e-5 else 1)
PY
}
# generate ARGS... as one process and under mpirun -np 2: the same stdout, logits within 1e-5.
model_parallel() {
  local what=$1; shift
  "$LLAMA" generate "$@" --logits-out "$WORK/mp1.json" > "$WORK/mp1.txt" 2> "$WORK/mp1.err" || { cat "$WORK/mp1.err" >&2; fail "$what: one process"; return; }
  "${MPIRUN[@]}" "$LLAMA" generate "$@" --logits-out "$WORK/mp2.json" --verbose > "$WORK/mp2.txt" 2> "$WORK/mp2.err" || { cat "$WORK/mp2.err" >&2; fail "$what: mpirun -np 2"; return; }
  grep -q "model-parallel: 2 ranks" "$WORK/mp2.err" || fail "$what: no model-parallel line on stderr"
  if ! cmp -s "$WORK/mp1.txt" "$WORK/mp2.txt" || [ ! -s "$WORK/mp1.txt" ]; then
    fail "$what: stdout differs: $(head -c 200 "$WORK/mp1.txt") vs $(head -c 200 "$WORK/mp2.txt")"; return
  fi
  out=$(same_logits "$WORK/mp1.json" "$WORK/mp2.json") && pass "$what: mpirun -np 2 = 1 process ($out; stdout \"$(head -c 60 "$WORK/mp2.txt" | tr '\n' ' ')\")" || fail "$what: logits: $out"
}
ODD=$SHARED/fixtures/dev-odd
IDS=$(python3 -c "import json; print(' '.join(map(str, json.load(open('$ODD/ref.json'))['ids'])))")
GREEDY=(--temperature 0 --max-tokens 8 --threads 1)
model_parallel "Meta, 2 shards (one per rank; 1 kv head gathered)" --model "$ODD/meta" --ids "$IDS" --print-ids "${GREEDY[@]}"
# ref.json's greedy ids are HF transformers' own.
want=$(python3 -c "import json; print(' '.join(map(str, json.load(open('$ODD/ref.json'))['greedy_next'])))")
[ "$(tr -s ' \n' ' ' < "$WORK/mp2.txt" | sed 's/ $//')" = "$want" ] && pass "Meta on 2 ranks: HF transformers' greedy ids ($want)" || fail "Meta on 2 ranks: ids $(cat "$WORK/mp2.txt") vs ref.json's $want"
model_parallel "GGUF F16 (sliced on load), text" --model "$ODD/model-f16.gguf" "${GREEDY[@]}" --max-tokens 16 "Once upon a time"
model_parallel "GGUF F32 Llama 3 (tied output split by vocabulary), ids" --model "$SHARED/fixtures/dev-llama3/model.gguf" --ids "$IDS" --print-ids "${GREEDY[@]}"
printf 'Once upon a time\nThe cat sat on\n' > "$WORK/prompts.txt"
model_parallel "Hugging Face folder (sliced on load), batch of 2 prompts" --model "$ODD/hf" --tokenizer "$ODD/model-f16.gguf" "${GREEDY[@]}" \
  --prompts-file "$WORK/prompts.txt"

# Bad setups.
expect_error() {  # description, pattern, command...
  local what=$1 pattern=$2; shift 2
  if "$@" > "$WORK/bad.out" 2> "$WORK/bad.err"; then fail "$what: succeeded"; return; fi
  grep -q -e "$pattern" "$WORK/bad.err" && pass "$what: $(grep -m1 -e "$pattern" "$WORK/bad.err")" || { cat "$WORK/bad.err" >&2; fail "$what: no \"$pattern\" in the error"; }
}
expect_error "--grad-accum 3 on 2 ranks" "grad-accum 3 is not divisible by the 2 MPI ranks" \
  "${MPIRUN[@]}" "$LLAMA" "${TRAIN[@]}" --steps 2 --grad-accum 3 --out "$WORK/bad1"
expect_error "ranks started with different seeds" "ranks disagree with rank 0 on the training settings" \
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 "$LLAMA" "${TRAIN[@]}" --steps 2 --seed 1 --out "$WORK/bad2" \
  : -np 1 "$LLAMA" "${TRAIN[@]}" --steps 2 --seed 2 --out "$WORK/bad2"
# Model-parallel generation's bad setups.
NP3=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 3)
expect_error "a 2-shard Meta directory on 3 ranks" "the checkpoint has 2 model-parallel shards (consolidated.NN.pth) but 3 MPI ranks were started" \
  "${NP3[@]}" "$LLAMA" generate --model "$ODD/meta" --ids "1 2 3" --max-tokens 1 --threads 1
expect_error "4 query heads on 3 ranks" "the model's query head count 4 is not divisible by the 3 MPI ranks" \
  "${NP3[@]}" "$LLAMA" generate --model "$ODD/model-f16.gguf" --ids "1 2 3" --max-tokens 1 --threads 1
expect_error "Q8_0 columns split off their blocks" "which is not a whole number of Q8_0 blocks of 32 columns" \
  "${MPIRUN[@]}" "$LLAMA" generate --model "$ODD/model-q8_0.gguf" --ids "1 2 3" --max-tokens 1 --threads 1
expect_error "ranks started on different model files" "ranks disagree with rank 0 on the model" \
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 "$LLAMA" generate --model "$ODD/model-f16.gguf" --ids "1 2 3" --max-tokens 1 --threads 1 \
  : -np 1 "$LLAMA" generate --model "$ODD/model-bf16.gguf" --ids "1 2 3" --max-tokens 1 --threads 1
expect_error "ranks started with different prompts" "ranks disagree with rank 0 on the generation settings" \
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 "$LLAMA" generate --model "$ODD/model-f16.gguf" --ids "1 2 3" --max-tokens 1 --threads 1 \
  : -np 1 "$LLAMA" generate --model "$ODD/model-f16.gguf" --ids "1 2 4" --max-tokens 1 --threads 1

# The default build (scripts/test.sh's, or a debug one) refuses to train as N copies.
for plain in .build/release/llama .build/debug/llama; do
  [ -x "$plain" ] || continue
  expect_error "a build without MPI under mpirun ($plain)" "built without MPI" \
    "${MPIRUN[@]}" "$plain" "${TRAIN[@]}" --steps 2 --out "$WORK/bad3"
  break
done

echo "test-mpi: $(( $(date +%s) - start )) s in all, $failures failure(s)" >&2
[ "$failures" = 0 ]
