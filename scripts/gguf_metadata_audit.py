#!/usr/bin/env python3
"""Walks a GGUF file's metadata and says, key by key, what SwiftLlama does with it.

    scripts/gguf_metadata_audit.py MODEL.gguf [--llama .build/debug/llama] [--json]

Each key is one of
  read       the engine reads it (GGUFCheckpoint, the vocabulary loaders, chat templates)
  harmless   known not to change the model: general.*, quantize.imatrix.*, split.* (a split
             file is refused with the other shards named), the tokenizer keys llama.cpp
             itself only uses for other vocabularies, `<arch>.vocab_size` …
  REVIEW     an `<arch>.*` or other key the engine neither reads nor knows to be harmless:
             it may change the model (scaling, extra norms), so a file with one is checked by
             hand; the exit status is 1 when there is any.
With --llama, the file is also run for one token (`llama generate --ids 1 --max-tokens 1`)
and a failure must be a one-line error naming the file: the differential part (what the
metadata says against what the engine does with it).

No dependencies: the GGUF header is parsed here (v2/v3, little-endian).
"""
import argparse
import json
import re
import struct
import subprocess
import sys

TYPES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

# What the engine reads; `{a}` is general.architecture (as llama.cpp spells it in keys).
READ = [
    "general.architecture",
    "{a}.embedding_length", "{a}.block_count", "{a}.feed_forward_length", "{a}.context_length",
    "{a}.attention.head_count", "{a}.attention.head_count_kv", "{a}.attention.layer_norm_rms_epsilon",
    "{a}.attention.layer_norm_epsilon", "{a}.attention.key_length", "{a}.attention.value_length",
    "{a}.attention.scale", "{a}.attention.sliding_window", "{a}.attention.sliding_window_pattern",
    "{a}.attn_logit_softcapping", "{a}.final_logit_softcapping",
    "{a}.rope.freq_base", "{a}.rope.dimension_count", "{a}.rope.scaling.type", "{a}.rope.scaling.factor",
    "{a}.rope.scaling.low_freq_factor", "{a}.rope.scaling.high_freq_factor",
    "{a}.rope.scaling.original_context_length", "{a}.expert_count", "{a}.expert_used_count",
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_space_prefix",
    "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.chat_template",
    "split.count", "split.no",
]
# Known not to change what the model computes (or refused elsewhere with a clear error).
HARMLESS = [
    r"general\..*", r"quantize\..*", r"split\..*", r"tokenizer\.chat_template\..*",
    r"tokenizer\.ggml\.(add_sep_token|sep_token_id|cls_token_id|mask_token_id|fim_.*|prefix_token_id|"
    r"suffix_token_id|middle_token_id|remove_extra_whitespaces|precompiled_charsmap|token_type_count)",
    r"tokenizer\.huggingface\.json", r"{a}\.vocab_size", r"{a}\.rope\.scaling\.finetuned",
    r"{a}\.expert_weights_norm", r"{a}\.attention\.layer_norm_rms_epsilon",
]


def read_gguf_metadata(path):
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # metadata of real files fits (vocabularies are a few MB)
    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    version = struct.unpack_from("<I", data, 4)[0]
    if version < 2:
        raise SystemExit(f"{path}: GGUF v{version} is not supported")
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    pos = 24

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        s = data[pos + 8:pos + 8 + n].decode("utf-8", "replace")
        pos += 8 + n
        return s

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            (et, n) = struct.unpack_from("<IQ", data, pos)
            pos += 12
            return [value(et) for _ in range(n)]
        fmt = "<" + TYPES[t]
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    meta = {}
    for _ in range(n_kv):
        key = string()
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        meta[key] = value(t)
    return meta, n_tensors


def classify(meta):
    arch = meta.get("general.architecture", "llama")
    read = {k.format(a=arch) for k in READ}
    harmless = [re.compile(p.replace("{a}", re.escape(arch)) + "$") for p in HARMLESS]
    out = []
    for key, v in meta.items():
        if key in read:
            kind = "read"
        elif any(p.match(key) for p in harmless):
            kind = "harmless"
        else:
            kind = "REVIEW"
        out.append((key, kind, v))
    return out


def short(v):
    if isinstance(v, list):
        return f"[{len(v)} items]" + (f" {v[:3]}…" if v and not isinstance(v[0], list) else "")
    s = repr(v)
    return s if len(s) < 80 else s[:77] + "…"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("--llama", help="the llama binary: also run the file for one token")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    meta, n_tensors = read_gguf_metadata(args.gguf)
    rows = classify(meta)
    review = [k for k, kind, _ in rows if kind == "REVIEW"]
    run = None
    if args.llama:
        p = subprocess.run([args.llama, "generate", "--model", args.gguf, "--ids", "1", "--max-tokens", "1",
                            "--temperature", "0", "--print-ids"], capture_output=True, text=True)
        err = p.stderr.strip().splitlines()
        run = {"status": p.returncode, "stderr": err[-1] if err else ""}
    if args.json:
        print(json.dumps({"tensors": n_tensors, "keys": [{"key": k, "kind": kind} for k, kind, _ in rows],
                          "review": review, "run": run}, indent=1))
    else:
        for k, kind, v in rows:
            print(f"{kind:9} {k} = {short(v)}")
        print(f"{len(rows)} keys, {n_tensors} tensors; {len(review)} to review")
        if run:
            print(f"llama generate: exit {run['status']} {run['stderr']}")
    bad_run = run is not None and run["status"] != 0 and (args.gguf not in run["stderr"])
    if bad_run:
        print("the engine failed without naming the file", file=sys.stderr)
    sys.exit(1 if review or bad_run else 0)


if __name__ == "__main__":
    main()
