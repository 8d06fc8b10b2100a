#!/usr/bin/env bash
# Greedy text from llama.cpp and from `llama generate` on the same GGUF, prompt by prompt;
# exits non-zero on the first difference. llama.cpp's `llama-completion` must be built
# outside this repository (bench/llamacpp.sh --build builds llama-bench and llama-quantize
# there; add the target: cmake --build DIR/build --target llama-completion).
#
#   scripts/check_llamacpp_generate.sh [--dir DIR] [-n TOKENS] MODEL.gguf PROMPT...
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
n=48
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        -n) n="$2"; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { sed -n '2,8p' "$0"; exit 2; }
model="$1"; shift
theirs_bin="$dir/build/bin/llama-completion"
[ -x "$theirs_bin" ] || { echo "no $theirs_bin: build the llama-completion target there" >&2; exit 2; }
(cd "$repo" && swift build -c release --product llama >&2)
ours_bin="$repo/.build/release/llama"
status=0
for prompt in "$@"; do
    theirs="$("$theirs_bin" -m "$model" -p "$prompt" -n "$n" --temp 0 -t 2 --no-display-prompt -no-cnv 2>/dev/null)"
    ours="$("$ours_bin" generate --model "$model" --temperature 0 --max-tokens "$n" "$prompt")"
    if [ "$theirs" == "$ours" ]; then
        printf 'same   %q\n' "$prompt"
    else
        printf 'DIFFER %q\n  llama.cpp:  %q\n  SwiftLlama: %q\n' "$prompt" "$theirs" "$ours"
        status=1
    fi
done
exit $status
