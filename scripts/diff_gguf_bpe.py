#!/usr/bin/env python3
"""Differential check of GGUF byte-level BPE vocabularies (llama-bpe, qwen2) against Hugging
Face `tokenizers` built from the same vocabulary and merges.

    $PEERS/bin/python scripts/diff_gguf_bpe.py VOCAB.gguf [N] [SEED]

Needs `tokenizers` (PyPI) and a release build of `llama`. The GGUF metadata is read here
directly; the HF tokenizer gets the GGUF's tokens, merges and the pre-tokenizer regex that
llama.cpp uses for that `tokenizer.ggml.pre` (no normalizer, as llama.cpp applies none).
"""
import os, random, struct, subprocess, sys, tempfile
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders

path = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA = os.path.join(ROOT, ".build/release/llama")

def read_meta(p):
    f = open(p, "rb").read(); o = 8
    nt, nkv = struct.unpack_from("<QQ", f, o); o += 16
    def rs():
        nonlocal o
        n, = struct.unpack_from("<Q", f, o); o += 8; s = f[o:o + n]; o += n; return s.decode()
    fm = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def rv(t):
        nonlocal o
        if t in fm:
            v, = struct.unpack_from("<" + fm[t], f, o); o += struct.calcsize(fm[t]); return v
        if t == 8: return rs()
        et, = struct.unpack_from("<I", f, o); o += 4; n, = struct.unpack_from("<Q", f, o); o += 8
        return [rv(et) for _ in range(n)]
    d = {}
    for _ in range(nkv):
        k = rs(); t, = struct.unpack_from("<I", f, o); o += 4; d[k] = rv(t)
    return d

m = read_meta(path)
pre = m["tokenizer.ggml.pre"]
contractions = {"llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)", "qwen2": r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"}[pre]
digits = {"llama-bpe": r"\p{N}{1,3}", "qwen2": r"\p{N}"}[pre]
pat = contractions + r"|[^\r\n\p{L}\p{N}]?\p{L}+|" + digits + r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
tokens, types = m["tokenizer.ggml.tokens"], m["tokenizer.ggml.token_type"]
vocab = {t: i for i, t in enumerate(tokens) if types[i] == 1}
merges = [tuple(x.split(" ", 1)) for x in m["tokenizer.ggml.merges"]]
tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=(pre == "llama-bpe")))
tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pat), behavior="isolated"),
                                             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
tok.decoder = decoders.ByteLevel()

pools = ["abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  ", "\t", "\n", "\r\n",
         "'s", "'S", "'re", "'LL", "\u00a0", "\u3000", ".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|", "éèêëàâäôöûüçñß",
         "日本語のテキスト", "中文字符", "한국어", "Ελληνικά", "Русский", "العربية", "हिन्दी", "٠١٢٣", "½²³",
         "🦙😀👍🏽", "def f(x):\n    return x**2\n", "aaaaaaaa", "!!!!!", "\n\n\n"]
rng = random.Random(SEED)
texts = ["".join(rng.choice(pools) for _ in range(rng.randint(1, 30))) for _ in range(N)]
texts += ["a" * 3000, " " * 2000 + "x", "9" * 1000]
bad = 0
with tempfile.TemporaryDirectory() as d:
    for t in texts:
        p = os.path.join(d, "t.txt")
        open(p, "w", encoding="utf-8", newline="").write(t)
        ours = [int(x) for x in subprocess.run([LLAMA, "tokenize", "--tokenizer", path, "--no-bos", "--file", p],
                                               capture_output=True, text=True, check=True).stdout.split()]
        theirs = tok.encode(t, add_special_tokens=False).ids
        if ours != theirs:
            bad += 1
            if bad <= 5: print("MISMATCH", repr(t)[:160], ours[:16], theirs[:16])
print(f"{pre}: {len(texts) - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
