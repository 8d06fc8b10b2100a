#!/usr/bin/env python3
"""What llama.cpp makes of the special tokens of each byte-level vocabulary in ../shared/vocab.

llama.cpp (`llama_vocab::load`, llama-cpp-python 0.3.36) promotes tokens to CONTROL by their
text (end-of-turn and fill-in-the-middle names, whatever the GGUF token type says) and builds
its end-of-generation set from those names, the FIM pad/repo/sep tokens and the eos/eot/eom
ids. This records, per vocabulary: every id llama.cpp treats as end of generation, every id
it treats as CONTROL, every id it treats as USER_DEFINED, and the ids of probe texts tokenized
with and without special-token parsing (`llama_tokenize(..., add_special=False, parse_special)`).

Usage (llama-cpp-python's Python sources and a llama.cpp build's libraries):
  LLAMA_CPP_LIB_PATH=BUILD/bin PYTHONPATH=SDIST python3 scripts/make_control_token_fixture.py \
      ../shared/vocab Tests/LlamaTests/Fixtures/control-tokens/llamacpp.json
"""
import ctypes, json, os, sys
import llama_cpp as L

VOCABS = ["command-r", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "llama-bpe", "mpt",
          "qwen2", "qwen35", "refact", "starcoder"]
PROBES = [
    "Hello</s>world", "</s>", "a <|im_end|> b<|endoftext|>", "<|im_start|>user\nhi<|im_end|>\n",
    "x<｜fim▁begin｜>def f():<｜fim▁hole｜>\n<｜fim▁end｜>y", "<｜end▁of▁sentence｜>!",
    "<fim_prefix>def<fim_suffix>pass<fim_middle><fim_pad><reponame>r", "<PAD> pad <EOT>",
    "<|eot_id|><|end_of_text|><|begin_of_text|>", "<|end|><end_of_turn><|eom_id|>",
]

L.llama_backend_init()
root, out = sys.argv[1], sys.argv[2]
result = {"llamacpp_version": "llama-cpp-python 0.3.36", "vocabularies": {}}
for name in VOCABS:
    p = L.llama_model_default_params()
    p.vocab_only = True
    model = L.llama_model_load_from_file(os.path.join(root, f"ggml-vocab-{name}.gguf").encode(), p)
    vocab = L.llama_model_get_vocab(model)
    n = L.llama_vocab_n_tokens(vocab)
    eog = [i for i in range(n) if L.llama_vocab_is_eog(vocab, i)]
    control = [i for i in range(n) if L.llama_vocab_get_attr(vocab, i) & L.LLAMA_TOKEN_ATTR_CONTROL]
    user = [i for i in range(n) if L.llama_vocab_get_attr(vocab, i) & L.LLAMA_TOKEN_ATTR_USER_DEFINED]
    cases = []
    for text in PROBES:
        entry = {"text": text}
        for key, special in [("ids", False), ("ids_special", True)]:
            b = text.encode()
            buf = (L.llama_token * (len(b) + 16))()
            k = L.llama_tokenize(vocab, b, len(b), buf, len(buf), False, special)
            entry[key] = list(buf[:k])
        cases.append(entry)
    result["vocabularies"][name] = {"eog": eog, "control": control, "user_defined": user, "cases": cases}
    L.llama_model_free(model)
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(result, f, ensure_ascii=False, indent=1)
os.replace(tmp, out)
