#!/usr/bin/env python3
"""llama.cpp's own tokenizer on vocabularies SwiftLlama wrote from a tokenizer.json.

    scripts/check_exported_vocab_llamacpp.py LLAMA_TOKENIZE EXPORTED_DIR [SHARED]

EXPORTED_DIR holds NAME.gguf for NAME in gpt-2, llama-bpe, qwen2, llama-spm, phi-3: the
vocabulary `GGUFVocabularyWriter` writes for ../shared/tokenizers/hf/NAME/tokenizer.json (with
the other metadata of ../shared/vocab/ggml-vocab-NAME.gguf, which llama.cpp needs to load a
vocabulary-only file). For every text of the folder's cases.json and of the vocabulary's .inp
file, `llama-tokenize --ids --no-bos` must give on the exported file what it gives on llama.cpp's
own ggml-vocab-NAME.gguf; for the byte-level folders also the `tokenizers` library's ids
(cases.json `ids`). Prints one line per vocabulary; exit status 1 on any difference.
"""
import json
import os
import subprocess
import sys

tool, exported = sys.argv[1], sys.argv[2]
shared = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared")


def tokenize(model, text):
    p = subprocess.run([tool, "-m", model, "--stdin", "--ids", "--no-bos", "--log-disable"],
                       input=text.encode("utf-8"), capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"{model}: llama-tokenize failed: {p.stderr.decode(errors='replace')[-300:]}")
    line = p.stdout.decode().strip().splitlines()[-1]
    return json.loads(line)


bad = 0
for name in ["gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3"]:
    ours = os.path.join(exported, f"{name}.gguf")
    theirs = os.path.join(shared, f"vocab/ggml-vocab-{name}.gguf")
    cases = json.load(open(os.path.join(shared, f"tokenizers/hf/{name}/cases.json")))["cases"]
    inp = open(theirs + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    texts = [c["text"] for c in cases] + [t for t in inp if t]
    same = sum(tokenize(ours, t) == tokenize(theirs, t) for t in texts)
    line = f"{name}: llama.cpp on the export = llama.cpp on its own vocabulary for {same}/{len(texts)} texts"
    if name in ("gpt-2", "llama-bpe", "qwen2"):
        agree = sum(tokenize(ours, c["text"]) == c["ids"] for c in cases)
        line += f"; = tokenizers' ids for {agree}/{len(cases)} cases"
        bad += len(cases) - agree
    bad += len(texts) - same
    print(line, flush=True)
sys.exit(1 if bad else 0)
