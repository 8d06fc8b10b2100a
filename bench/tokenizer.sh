#!/usr/bin/env bash
# Llama 3 tokenizer encode throughput, SwiftLlama vs tiktoken, side by side in one run.
#
#   bench/tokenizer.sh [TEXT_FILE]
#
# tiktoken comes from PyPI into a virtual environment outside the repository
# ($PEERS, default /tmp/swiftllama-peers). One thread each, best of 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SWIFTLLAMA_SHARED:-../shared}
FILE=${1:-$SHARED/data/tinyshakespeare.txt}
TOK=$SHARED/tokenizers/llama3/tokenizer.model
PEERS=${PEERS:-/tmp/swiftllama-peers}

if [ ! -x "$PEERS/bin/python" ]; then
  python3 -m venv "$PEERS"
  "$PEERS/bin/pip" install -q "tiktoken==0.14.*"
fi
swift build -c release --product llama >/dev/null

ours=$(.build/release/llama bench tokenizer --tokenizer "$TOK" --file "$FILE" --runs 5 --json)
theirs=$(RAYON_NUM_THREADS=1 "$PEERS/bin/python" - "$TOK" "$FILE" <<'PY'
import base64, json, sys, time
import tiktoken
from tiktoken.load import load_tiktoken_bpe
tok_path, file = sys.argv[1], sys.argv[2]
ranks = load_tiktoken_bpe(tok_path)
pat = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
enc = tiktoken.Encoding("llama3", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
text = open(file, encoding="utf-8").read()
enc.encode_ordinary(text[:10000])
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter(); ids = enc.encode_ordinary(text); best = min(best, time.perf_counter() - t0)
n = len(text.encode())
print(json.dumps({"bytes": n, "tokens": len(ids), "seconds": best, "mb_per_s": n / 1e6 / best}))
PY
)
python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| engine | tokens | MB/s |")
print(f"| --- | ---: | ---: |")
print(f"| SwiftLlama | {o['tokens']} | {o['mb_per_s']:.1f} |")
print(f"| tiktoken | {t['tokens']} | {t['mb_per_s']:.1f} |")
print(f"ratio SwiftLlama / tiktoken: {o['mb_per_s'] / t['mb_per_s']:.2f}x" + ("" if o['tokens'] == t['tokens'] else "  (TOKEN COUNTS DIFFER)"))
PY
