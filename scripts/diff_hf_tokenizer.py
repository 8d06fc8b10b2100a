#!/usr/bin/env python3
"""Differential check of our tokenizer.json reader against the `tokenizers` library.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers
    /tmp/venv/bin/python scripts/diff_hf_tokenizer.py [N] [SEED] [TOKENIZER_JSON ...]

Needs a release build of `llama`. Without paths it checks the five folders in
../shared/tokenizers/hf. Random texts mix scripts, digits, odd whitespace, contractions,
emoji, combining marks and added-token text; each is encoded by `llama tokenize --no-bos`
(compared with encode(add_special_tokens=False)) and without --no-bos (compared with the
default encode, post-processor on).
"""
import glob, os, random, subprocess, sys, tempfile
from tokenizers import Tokenizer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SWIFTLLAMA_SHARED", os.path.join(ROOT, "..", "shared"))
LLAMA = os.path.join(ROOT, ".build/release/llama")
paths = sys.argv[3:] or sorted(glob.glob(os.path.join(SHARED, "tokenizers/hf/*/tokenizer.json")))

pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  ", "\t", "\n", "\r\n", "\r",
    "'s", "'S", "'re", "'VE", "'ll", "'d", "'M", "'t", "\u00a0", "\u2028", "\u3000", "\u200b", "\ufeff",
    ".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|", "éèêëàâäôöûüçñß", "日本語のテキスト", "中文字符", "한국어", "Ελληνικά ά ά",
    "Русский", "עברית", "العربية", "हिन्दी", "ไทย", "٠١٢٣٤٥٦٧٨٩", "१२३", "Ⅻ½²³", "🦙😀👍🏽", "e\u0301", "\u0300\u0301",
    "def f(x):\n    return x**2\n", "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|eot_id|>", "▁", "aaaaaaaaaa", "    ",
]

def random_text(rng):
    parts = []
    for _ in range(rng.randint(1, 30)):
        p = rng.choice(pools)
        if len(p) > 4 and rng.random() < 0.5:
            i = rng.randrange(len(p)); p = p[i:i + rng.randint(1, 6)]
        parts.append(p)
    return "".join(parts)

rng = random.Random(SEED)
texts = [random_text(rng) for _ in range(N)] + ["a" * 3000, " " * 1000 + "x", "1" * 500]
bad = 0
with tempfile.TemporaryDirectory() as d:
    for path in paths:
        tok = Tokenizer.from_file(path)
        fails = 0
        for t in texts:
            f = os.path.join(d, "t.txt")
            with open(f, "w", encoding="utf-8", newline="") as fh:
                fh.write(t)
            for flags, special in ((["--no-bos"], False), ([], True)):
                out = subprocess.run([LLAMA, "tokenize", "--tokenizer", path, *flags, "--file", f],
                                     capture_output=True, text=True, check=True).stdout.split()
                ours = [int(x) for x in out]
                theirs = tok.encode(t, add_special_tokens=special).ids
                if ours != theirs:
                    fails += 1
                    if fails <= 3:
                        print("MISMATCH", path, flags, repr(t)[:160], ours[:16], theirs[:16])
        print(f"{path}: {2 * len(texts) - fails} passed, {fails} failed")
        bad += fails
sys.exit(1 if bad else 0)
