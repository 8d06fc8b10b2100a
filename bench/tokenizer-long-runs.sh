#!/usr/bin/env bash
# Encode time for runs of one repeated character with no split point (10 000, 100 000 and
# 1 000 000 × "a"): byte-level BPE on one huge piece must grow close to linearly.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SWIFTLLAMA_SHARED:-../shared}
TOK=${1:-$SHARED/tokenizers/llama3/tokenizer.model}
swift build -c release --product llama >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| characters | tokens | seconds | µs per character |"
echo "| ---: | ---: | ---: | ---: |"
for n in 10000 100000 1000000; do
  python3 -c "import sys; sys.stdout.write('a' * $n)" > "$tmp/a.txt"
  .build/release/llama bench tokenizer --tokenizer "$TOK" --file "$tmp/a.txt" --runs 3 --json |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"| $n | {d['tokens']} | {d['seconds']:.4f} | {d['seconds']/$n*1e6:.3f} |\")"
done
