#!/usr/bin/env bash
# Tokenizer encode throughput, side by side in one run: the Llama 3 tokenizer vs tiktoken,
# and the Llama 2 SentencePiece tokenizer vs sentencepiece.
#
#   bench/tokenizer.sh [TEXT_FILE]
#
# tiktoken and sentencepiece come from PyPI into a virtual environment outside the
# repository ($PEERS, default /tmp/swiftllama-peers). One thread each, best of 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SWIFTLLAMA_SHARED:-../shared}
FILE=${1:-$SHARED/data/tinyshakespeare.txt}
TOK=$SHARED/tokenizers/llama3/tokenizer.model
PEERS=${PEERS:-/tmp/swiftllama-peers}

if [ ! -x "$PEERS/bin/python" ]; then
  python3 -m venv "$PEERS"
fi
if ! "$PEERS/bin/python" -c "import tiktoken, sentencepiece" 2>/dev/null; then
  "$PEERS/bin/pip" install -q "tiktoken==0.14.*" sentencepiece
fi
SPM=$SHARED/tokenizers/llama2/tokenizer.model
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
ours_spm=$(.build/release/llama bench tokenizer --tokenizer "$SPM" --file "$FILE" --runs 5 --json)
theirs_spm=$("$PEERS/bin/python" - "$SPM" "$FILE" <<'PY'
import json, sys, time
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter(); ids = sp.encode(text); best = min(best, time.perf_counter() - t0)
n = len(text.encode())
print(json.dumps({"bytes": n, "tokens": len(ids), "seconds": best, "mb_per_s": n / 1e6 / best}))
PY
)
python3 - "$ours" "$theirs" "$ours_spm" "$theirs_spm" <<'PY'
import json, sys
o, t, os_, ts = (json.loads(a) for a in sys.argv[1:5])
print("| tokenizer | engine | tokens | MB/s | ratio |")
print("| --- | --- | ---: | ---: | ---: |")
for name, ours, peer, theirs in [("Llama 3", o, "tiktoken", t), ("Llama 2", os_, "sentencepiece", ts)]:
    same = "" if ours["tokens"] == theirs["tokens"] else " (TOKEN COUNTS DIFFER)"
    print(f"| {name} | SwiftLlama | {ours['tokens']} | {ours['mb_per_s']:.1f} | {ours['mb_per_s'] / theirs['mb_per_s']:.2f}x{same} |")
    print(f"| {name} | {peer} | {theirs['tokens']} | {theirs['mb_per_s']:.1f} | 1.00x |")
PY
