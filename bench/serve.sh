#!/usr/bin/env bash
# `llama serve` under load, side by side with llama.cpp's llama-server on the same GGUF.
#
#   bench/serve.sh [--build] [--dir DIR] [-c CLIENTS] [-r REQUESTS] [-n TOKENS] [-t THREADS]
#                  [--ctx N] [--long-prompt WORDS] [--llama BIN] [--server-args "ARGS"] MODEL.gguf
#
# For each server: 1 streaming client, then CLIENTS concurrent streaming clients (each
# sending REQUESTS greedy requests of exactly TOKENS tokens, ignore_eos), then the same load
# with a WORDS-word prompt arriving mid-run (default 512) while CLIENTS-1 streams run, so that
# it finds a free slot at once. Reports time to first token
# p50/p99, aggregate generated tokens/s (first request sent to last token received), the
# clients' own CPU seconds (one light, single-threaded client process: it shares the cores
# with the server), errors, and the running streams' largest gap
# between tokens while the long prompt is read. Loopback only; every request has a timeout.
# --build builds llama-server from the llama-cpp-python 0.3.36 sdist into DIR (default
# ~/.cache/swiftllama-llamacpp, never inside this repository), as bench/llamacpp.sh does;
# without a llama-server in DIR only SwiftLlama is measured. --llama BIN uses that `llama`
# binary instead of building this repository's release one. --server-args adds arguments to
# llama-server's command line (on a machine shared with other work, "--poll 0": ggml's
# worker threads otherwise spin while they wait, and on oversubscribed cores that collapses).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
threads="$(nproc)" clients=4 requests=2 tokens=128 ctx=1024 long=512 build=0
model="" ours="" server_args=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=1 ;;
        --dir) dir="$2"; shift ;;
        -c) clients="$2"; shift ;;
        -r) requests="$2"; shift ;;
        -n) tokens="$2"; shift ;;
        -t) threads="$2"; shift ;;
        --ctx) ctx="$2"; shift ;;
        --long-prompt) long="$2"; shift ;;
        --llama) ours="$2"; shift ;;
        --server-args) server_args="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) model="$1" ;;
    esac
    shift
done
[ -n "$model" ] || { echo "no model file given" >&2; exit 2; }
dir="$(realpath -m "$dir")"
case "$dir/" in
    "$repo"/*) echo "--dir $dir is inside the repository; llama.cpp must never be committed" >&2; exit 2 ;;
esac

version=0.3.36
src="$dir/llama_cpp_python-$version/vendor/llama.cpp"
if [ "$build" = 1 ]; then
    mkdir -p "$dir"
    if [ ! -d "$src" ]; then
        python3 -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$version" -d "$dir"
        tar -xzf "$dir/llama_cpp_python-$version.tar.gz" -C "$dir"
    fi
    if ! command -v cmake >/dev/null; then
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/pip" install cmake
        PATH="$dir/venv/bin:$PATH"
    fi
    cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
    cmake --build "$dir/build" --target llama-server -j "$threads"
fi

if [ -z "$ours" ]; then
    (cd "$repo" && swift build -c release --product llama >&2)
    ours="$repo/.build/release/llama"
fi
load="$repo/bench/serve_load.py"
logdir="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$logdir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {  # URL
    for _ in $(seq 1 600); do
        if python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1] + "/health", timeout=2).status == 200 else 1)
PY
        sleep 0.2
    done
    echo "server at $1 did not become ready" >&2
    return 1
}

run_load() {  # NAME URL
    local name="$1" url="$2"
    local one many longp
    one="$(python3 "$load" "$url" --clients 1 --requests "$requests" --max-tokens "$tokens")"
    many="$(python3 "$load" "$url" --clients "$clients" --requests "$requests" --max-tokens "$tokens")"
    longp="$(python3 "$load" "$url" --clients "$((clients > 1 ? clients - 1 : 1))" --requests 1 --max-tokens "$tokens" --long-prompt "$long")"
    SUMMARY="$logdir/summary" NAME="$name" ONE="$one" MANY="$many" LONG="$longp" python3 - <<'PY'
import json, os
one, many, lp = (json.loads(os.environ[k]) for k in ("ONE", "MANY", "LONG"))
name = os.environ["NAME"]
def ms(x): return f"{x * 1000:.0f}" if x is not None else "-"
print(f"| {name} | 1 | {ms(one['ttft_p50_s'])} | {ms(one['ttft_p99_s'])} | {one['tokens_per_s']:.1f} | {one['client_cpu_s']:.2f} | {one['errors']} | |")
l = lp.get("long_prompt", {})
server_gap = l.get("server_gap_max_s")
print(f"| {name} | {many['clients']} | {ms(many['ttft_p50_s'])} | {ms(many['ttft_p99_s'])} | {many['tokens_per_s']:.1f} "
      f"({many['tokens_per_s'] / one['tokens_per_s']:.2f}x one) | {many['client_cpu_s']:.2f} | {many['errors'] + lp['errors']} | "
      f"gap {ms(l.get('gap_median_before_s'))} ms median before, {ms(l.get('gap_max_during_s'))} ms max while a {l.get('words')}-word "
      f"({l.get('prompt_tokens')}-token) prompt is read"
      + (f" (server-timed longest gap {ms(server_gap)} ms)" if server_gap is not None else "")
      + f"; its TTFT {ms(l.get('ttft_s'))} ms |")
with open(os.environ["SUMMARY"], "a") as f:
    f.write(f"{name}\t{one['tokens_per_s']}\t{many['tokens_per_s']}\n")
PY
}

echo "model $(basename "$model"), $clients clients x $requests requests x $tokens tokens, $threads threads, context $ctx per slot"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
printf '| server | clients | TTFT p50 ms | TTFT p99 ms | generated tok/s | client CPU s | errors | long prompt |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'

port="$(free_port)"
"$ours" serve --model "$model" --port "$port" --parallel "$clients" --context "$ctx" -t "$threads" --log-steps \
    >"$logdir/ours.out" 2>"$logdir/ours.err" &
pid=$!
wait_ready "http://127.0.0.1:$port"
run_load SwiftLlama "http://127.0.0.1:$port"
kill -TERM "$pid"; wait "$pid" || true; pid=""
# Our engine's steps that read prompt positions (--log-steps): the delay each one added to
# the running streams, against the prefill chunk.
python3 - "$logdir/ours.err" <<'PY'
import re, sys
steps = [tuple(map(int, m.groups())) for m in re.finditer(r"step: (\d+) decode \+ (\d+) prompt rows, (\d+)ms", open(sys.argv[1]).read())]
mixed = [s for s in steps if s[0] > 0]
if mixed:
    worst = max(mixed, key=lambda s: s[2])
    print(f"SwiftLlama engine: {len(mixed)} steps read prompt rows beside running streams; the longest took {worst[2]} ms "
          f"({worst[1]} prompt rows + {worst[0]} decode rows; at most one chunk per step)")
PY

server="$dir/build/bin/llama-server"
if [ -x "$server" ]; then
    port="$(free_port)"
    "$server" -m "$model" --host 127.0.0.1 --port "$port" --parallel "$clients" -c "$((ctx * clients))" \
        -t "$threads" $server_args >"$logdir/theirs.out" 2>"$logdir/theirs.err" &
    pid=$!
    wait_ready "http://127.0.0.1:$port"
    run_load "llama.cpp llama-server" "http://127.0.0.1:$port"
    kill -TERM "$pid"; wait "$pid" || true; pid=""
else
    echo "(no llama-server in $dir/build/bin: run with --build to measure llama.cpp too)"
fi

# The two servers' aggregate rates side by side (same run, same machine state).
if [ -s "$logdir/summary" ]; then
    python3 - "$logdir/summary" "$clients" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = sys.argv[2]
ours = next((r for r in rows if r[0] == "SwiftLlama"), None)
theirs = next((r for r in rows if r[0] != "SwiftLlama"), None)
if ours:
    print(f"SwiftLlama: {n} streams {float(ours[2]):.1f} tok/s = {float(ours[2]) / float(ours[1]):.2f}x its one stream", end="")
    if theirs:
        print(f"; {float(ours[2]) / float(theirs[2]):.2f}x llama-server's {n} streams ({float(theirs[2]):.1f} tok/s,"
              f" {float(theirs[2]) / float(theirs[1]):.2f}x its one stream)", end="")
    print()
PY
fi
