#!/usr/bin/env bash
# Prompt speed per CPU-second of SwiftLlama and llama.cpp, a comparison that survives a busy
# machine: each engine runs `-p P -n 0 -t 1` with -r 1 and with -r 3 under /usr/bin/time, and
# the difference of the two runs' user+system CPU time is two prompts' work (loading, warm-up
# and repacking cancel out). Prints tokens per CPU-second for each engine and their ratio; with
# one thread and no other cost, tokens per CPU-second is the one-thread tokens/s of an idle
# machine (cache and memory contention from other jobs still count).
#   bench/pp_cputime.sh [--ours BINARY] [--llamacpp LLAMA_BENCH] [-p 512] MODEL.gguf...
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ours="$repo/.build/release/llama"
lcpp="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}/build/bin/llama-bench"
p=512
models=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ours) ours="$2"; shift ;;
        --llamacpp) lcpp="$2"; shift ;;
        -p) p="$2"; shift ;;
        *) models+=("$1") ;;
    esac
    shift
done
[ -x "$ours" ] || { echo "no SwiftLlama binary at $ours (swift build -c release, or --ours)" >&2; exit 1; }
[ -x "$lcpp" ] || { echo "no llama-bench at $lcpp (bench/llamacpp.sh --build, or --llamacpp)" >&2; exit 1; }
cpu() {  # user+system seconds of one command
    local f; f=$(mktemp)
    /usr/bin/time -f '%U %S' -o "$f" "$@" > /dev/null 2>&1 || { rm -f "$f"; echo "failed: $*" >&2; exit 1; }
    awk '{print $1 + $2}' "$f"; rm -f "$f"
}
rate() {  # tokens per CPU-second from the -r 1 and -r 3 runs of one engine
    local one three; one=$(cpu "$@" -r 1); three=$(cpu "$@" -r 3)
    awk -v a="$one" -v b="$three" -v p="$p" 'BEGIN { d = b - a; if (d <= 0) print "nan"; else printf "%.1f", 2 * p / d }'
}
echo "| model | llama.cpp pp$p t/CPU-s | ours | ratio |"
echo "| --- | ---: | ---: | ---: |"
for m in "${models[@]}"; do
    l=$(rate "$lcpp" -m "$m" -p "$p" -n 0 -t 1)
    o=$(rate "$ours" bench --model "$m" -p "$p" -n 0 -t 1)
    echo "| $(basename "$m") | $l | $o | $(awk -v a="$l" -v b="$o" 'BEGIN { printf "%.2f", b / a }') |"
done
