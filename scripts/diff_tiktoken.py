#!/usr/bin/env python3
"""Differential check of the Llama 3 tokenizer against tiktoken on random texts.

    PEERS=/tmp/swiftllama-peers; $PEERS/bin/python scripts/diff_tiktoken.py [N] [SEED]

Needs tiktoken (PyPI) in the running Python and a release build of `llama`. Texts mix
scripts, digits of several systems, odd whitespace, contractions in any case, emoji and
combining marks, and long runs; each is encoded by both and the ids compared.
"""
import json, os, random, subprocess, sys, tempfile
import tiktoken
from tiktoken.load import load_tiktoken_bpe

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SWIFTLLAMA_SHARED", os.path.join(ROOT, "..", "shared"))
TOK = os.path.join(SHARED, "tokenizers/llama3/tokenizer.model")
LLAMA = os.path.join(ROOT, ".build/release/llama")

pat = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
enc = tiktoken.Encoding("llama3", pat_str=pat, mergeable_ranks=load_tiktoken_bpe(TOK), special_tokens={})

pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  ", "\t", "\n", "\r\n", "\r",
    "'s", "'S", "'re", "'VE", "'ll", "'d", "'M", "'t", "'ſ", "\u00a0", "\u2028", "\u3000", "\u200b", "\ufeff",
    ".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|", "éèêëàâäôöûüçñß", "日本語のテキスト", "中文字符", "한국어", "Ελληνικά",
    "Русский", "עברית", "العربية", "हिन्दी", "ไทย", "٠١٢٣٤٥٦٧٨٩", "१२३", "Ⅻ½²³", "🦙😀👍🏽", "e\u0301", "\u0300\u0301",
    "def f(x):\n    return x**2\n", "<|eot_id|>", "aaaaaaaaaa", "!!!!!!!", "    ", "\n\n\n",
]

def random_text(rng):
    n = rng.randint(1, 40)
    parts = []
    for _ in range(n):
        p = rng.choice(pools)
        if len(p) > 4 and rng.random() < 0.5:
            i = rng.randrange(len(p)); p = p[i:i + rng.randint(1, 6)]
        parts.append(p)
    return "".join(parts)

rng = random.Random(SEED)
texts = [random_text(rng) for _ in range(N)]
texts += ["a" * 5000, " " * 3000 + "x", "1" * 999, "\n" * 500 + " a", "ſ" * 100]
bad = 0
with tempfile.TemporaryDirectory() as d:
    for i, t in enumerate(texts):
        path = os.path.join(d, "t.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(t)
        out = subprocess.run([LLAMA, "tokenize", "--tokenizer", TOK, "--no-bos", "--file", path],
                             capture_output=True, text=True, check=True).stdout.split()
        ours = [int(x) for x in out]
        theirs = enc.encode_ordinary(t)
        if ours != theirs:
            bad += 1
            if bad <= 5:
                print("MISMATCH", repr(t)[:200], ours[:20], theirs[:20])
print(f"{len(texts) - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
