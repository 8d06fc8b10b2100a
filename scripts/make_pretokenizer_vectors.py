#!/usr/bin/env python3
"""Ids for llama.cpp pre-tokenizers that have no test vectors of their own.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers
    /tmp/venv/bin/python scripts/make_pretokenizer_vectors.py > Tests/LlamaTests/Fixtures/pretokenizers/vectors.json

For each name, llama.cpp's regex list (src/llama-vocab.cpp of the llama.cpp that
llama-cpp-python 0.3.36 vendors) is put into GPT-2's tokenizer.json as a Sequence of Split
steps (Isolated) followed by ByteLevel without its own regex, with `ignore_merges` as llama.cpp
sets it for that name; the Hugging Face `tokenizers` library (Oniguruma regexes) then encodes
texts chosen to exercise each list. The Swift test loads GPT-2's GGUF vocabulary with the same
name as its pre-tokenizer and must give the same ids.
"""
import json, os, sys
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SWIFTLLAMA_SHARED", os.path.join(ROOT, "..", "shared"))
BASE = os.path.join(SHARED, "tokenizers/hf/gpt-2/tokenizer.json")

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
C = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
C_OPT = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
CJK = r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+"
PORO = r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+"
UPPER_LOWER = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
UPPER_ONLY = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"

LISTS = {
    "default": ([r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"], False),
    "deepseek-v3": ([r"\p{N}{1,3}", r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
                     r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"], False),
    "smollm": ([r"\p{N}", GPT2], False),
    "poro-chat": ([PORO], False),
    "viking": ([PORO, r"\p{N}"], False),
    "chatglm-bpe": ([C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"], False),
    "tekken": ([UPPER_LOWER + "|" + UPPER_ONLY + r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"], True),
    "gpt-4o": ([UPPER_LOWER + C_OPT + "|" + UPPER_ONLY + C_OPT + r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"], False),
    "bailingmoe": ([r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"], False),
    "seed-coder": ([C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"], False),
    "chameleon": ([r"<sentinel:[0-9]+>", r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", r"([\t\n]|    |  )", r"\p{N}",
                   r"[\p{P}!-/:-@\[-`{-~]", GPT2], False),
}

TEXTS = [
    "Hello world", " Hello World!  It's 12345 o'clock, isn't it? I'M SURE they'LL come.",
    "camelCaseWords and HTTPServer and XMLHttpRequest, iPhone", "ÉCOLE école Ωmega ΣΊΣΥΦΟΣ straße",
    "price: $1,234,567.89 (+15%) <=> a^b ~c |d| `e`", "日本語のテキストとカタカナ、中文字符，한국어 텍스트。",
    "Hyvää päivää! Mitä kuuluu? Tämä on testi… 1234567", "नमस्ते दुनिया। مرحبا بالعالم، السلام",
    "\t\tindented\n\n  lines \r\n trailing   \n", "def f(x):\n    return x**2  # square\n",
    "emoji 🦙😀👍🏽 and e\u0301 combining", "<sentinel:12> IMGIMGABCZ tokens", "   leading and trailing   ",
    "numbers ١٢٣ ४५६ Ⅻ ½ 2024-01-01 3.14159", "path/to/file.txt and a//b and x/ y",
]

base = json.load(open(BASE, encoding="utf-8"))
out = {"source": "scripts/make_pretokenizer_vectors.py, tokenizers " + __import__("tokenizers").__version__, "names": {}}
for name, (patterns, ignore_merges) in LISTS.items():
    j = json.loads(json.dumps(base))
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers":
        [{"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False} for p in patterns]
        + [{"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    j["model"]["ignore_merges"] = ignore_merges
    tok = Tokenizer.from_str(json.dumps(j))
    out["names"][name] = {"cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TEXTS]}
json.dump(out, sys.stdout, ensure_ascii=False)
print()
