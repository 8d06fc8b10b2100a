#!/usr/bin/env bash
# BPE tokenizer training time, SwiftLlama vs Hugging Face tokenizers' BpeTrainer (same Llama 3
# pre-tokenizer, byte-level), side by side in one run.
#
#   bench/train-tokenizer.sh [CORPUS] [VOCAB]
#
# `tokenizers` comes from PyPI into a virtual environment outside the repository
# ($PEERS, default /tmp/swiftllama-peers).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SWIFTLLAMA_SHARED:-../shared}
CORPUS=${1:-$SHARED/data/tinyshakespeare.txt}
VOCAB=${2:-4096}
PEERS=${PEERS:-/tmp/swiftllama-peers}
if ! "$PEERS/bin/python" -c "import tokenizers" 2>/dev/null; then
  python3 -m venv "$PEERS"
  "$PEERS/bin/pip" install -q tokenizers
fi
swift build -c release --product llama >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ours=$(.build/release/llama train-tokenizer "$CORPUS" --vocab-size "$VOCAB" --out "$tmp/tok.tiktoken" --json)
theirs=$("$PEERS/bin/python" "$SHARED/tools/bpe_train_ref.py" "$CORPUS" --vocab-size "$VOCAB")
python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| trainer | seconds | vocab | corpus tokens | bytes/token |")
print("| --- | ---: | ---: | ---: | ---: |")
print(f"| SwiftLlama (1 thread) | {o['seconds']:.3f} | {o['vocab']} | {o['tokens']} | {o['bytes_per_token']:.3f} |")
print(f"| HF tokenizers ({t['threads']} threads) | {t['seconds']:.3f} | {t['vocab']} | {t['tokens']} | {t['bytes_per_token']:.3f} |")
print(f"speed ratio (HF time / ours): {t['seconds'] / o['seconds']:.2f}x")
PY
