#!/usr/bin/env python3
"""Render the chat templates inside GGUF files (tokenizer.chat_template and the named
tokenizer.chat_template.NAME) and HF folders (chat_template.jinja, or tokenizer_config.json's
chat_template as a string or a list of {name, template}; bos/eos/unk/pad from that config) with jinja2 3.1.6 set up as HF transformers does, over the five
conversations of ../shared/templates/refs.json, with the file's own bos/eos token texts.

Usage: make_model_template_refs.py OUT.json (FILE.gguf | HF_DIR)...
Writes {"files": {basename: {"special": {...}, "templates": {name: {conversation: {"text"|"error"}}}}}}.
"""
import json, os, struct, sys
sys.argv, args = sys.argv[:1], sys.argv[1:]
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared")
src = open(os.path.join(SHARED, "tools", "make_template_refs.py")).read().replace("\nmain()", "")
exec(src)  # env(), CONV, CONTEXT, NOW from the script that made refs.json

def read_metadata(path):
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", b, 4)
    p = 24
    def string():
        nonlocal p
        n, = struct.unpack_from("<Q", b, p); p += 8
        s = b[p:p + n].decode("utf-8"); p += n
        return s
    sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def value(t):
        nonlocal p
        if t == 8: return string()
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p); p += 12
            return [value(et) for _ in range(n)]
        fmt = "<" + sizes[t]
        v, = struct.unpack_from(fmt, b, p); p += struct.calcsize(fmt)
        return v
    md = {}
    for _ in range(n_kv):
        k = string()
        t, = struct.unpack_from("<I", b, p); p += 4
        md[k] = value(t)
    return md

def render_all(E, templates, special):
    r = {}
    for name, source in sorted(templates.items()):
        t = E.from_string(source)
        cases = {}
        for cname, c in CONV.items():
            kw = dict(special); kw.update(c)
            try: cases[cname] = {"text": t.render(**kw)}
            except Exception as ex: cases[cname] = {"error": f"{type(ex).__name__}: {ex}"}
        r[name] = cases
    return r

def main():
    out, files = args[0], args[1:]
    E = env()
    res = {}
    for path in files:
        if os.path.isdir(path):
            cfg = json.load(open(os.path.join(path, "tokenizer_config.json")))
            special = {}
            for name in ["bos_token", "eos_token", "unk_token", "pad_token"]:
                v = cfg.get(name)
                if isinstance(v, dict): v = v.get("content")
                if isinstance(v, str): special[name] = v
            ct = cfg.get("chat_template")
            templates = {}
            if isinstance(ct, str): templates["default"] = ct
            elif isinstance(ct, list): templates = {x["name"]: x["template"] for x in ct}
            jf = os.path.join(path, "chat_template.jinja")
            if os.path.exists(jf): templates["default"] = open(jf, encoding="utf-8").read()
            res[os.path.basename(os.path.normpath(path))] = {"special": special, "templates": render_all(E, templates, special)}
            continue
        md = read_metadata(path)
        tokens = md.get("tokenizer.ggml.tokens", [])
        special = {}
        for field, name in [("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"), ("unknown_token_id", "unk_token"), ("padding_token_id", "pad_token")]:
            i = md.get("tokenizer.ggml." + field)
            if i is not None and 0 <= i < len(tokens): special[name] = tokens[i]
        templates = {("default" if k == "tokenizer.chat_template" else k[len("tokenizer.chat_template."):]): v
                     for k, v in md.items() if k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")}
        res[os.path.basename(path)] = {"special": special, "templates": render_all(E, templates, special)}
    json.dump({"now": NOW.isoformat(), "files": res}, open(out, "w"), ensure_ascii=False, indent=1)
    print({k: list(v["templates"]) for k, v in res.items()})

main()
