#!/usr/bin/env python3
"""Checks a directory written by `llama export --format hf` with HF transformers.

  check_hf_export.py HF_DIR REF_JSON
      prints the max abs difference of the export's last-position logits from a reference
      ref.json (../shared/fixtures/*/ref.json) and whether the greedy continuation matches.

  check_hf_export.py HF_DIR --write-fixture OUT.json --source MODEL --ids "1 2 3" [--ids ...]
      writes what transformers computes on the export: for each id sequence its last-position
      logits and 8 greedy ids, and for each tensor as transformers loaded it its shape, sum,
      sum of magnitudes, a position-weighted sum (weight of flat index i: (i*7919 mod 1000)/1000)
      and first values, so a test can tell whether our exporter still writes the layout
      transformers was given. MODEL is the file that was exported; its
      size and CRC-32 are recorded so the test can say when the fixture is stale.
      scripts/make_hf_export_fixture.sh runs this for Tests/LlamaTests/Fixtures/hf-export.

Needs torch and transformers (PyPI, in a venv outside the repository)."""
import argparse, json, sys, zlib
import numpy as np
import torch
import transformers
from transformers import LlamaForCausalLM


def load(hf_dir):
    m, info = LlamaForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, output_loading_info=True)
    # Every tensor must come from the file: a missing one would be randomly initialised and
    # the logits would test nothing. lm_head is legitimately absent when tied.
    missing = [k for k in info["missing_keys"] if not (k == "lm_head.weight" and m.config.tie_word_embeddings)]
    if missing or info["unexpected_keys"] or info.get("mismatched_keys"):
        sys.exit(f"transformers did not load the export cleanly: {info}")
    return m.eval()


def f32(values):
    # The shortest decimal that reads back as the same float32: exact and compact.
    return [float(str(np.float32(v))) for v in values]


def write_fixture(args):
    m = load(args.hf_dir)
    prompts = []
    for text in args.ids:
        ids = [int(t) for t in text.split()]
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = m(x).logits[0, -1]
        out = m.generate(x, max_new_tokens=8, do_sample=False, pad_token_id=ids[0],
                         attention_mask=torch.ones_like(x))
        prompts.append({"ids": ids, "last_logits": f32(logits.tolist()), "greedy_next": out[0, len(ids):].tolist()})
    tensors = {}
    for name, t in m.state_dict().items():
        if name == "lm_head.weight" and m.config.tie_word_embeddings:
            continue  # the embedding itself, already recorded
        v = t.detach().double().flatten()
        # Sums do not see a permutation of rows (q/k's rotate-half order is one); a sum with
        # weights that vary along the flat index does.
        w = (torch.arange(v.numel(), dtype=torch.float64) * 7919) % 1000 / 1000
        tensors[name] = {"shape": list(t.shape), "sum": float(v.sum()), "abs_sum": float(v.abs().sum()),
                         "weighted_sum": float((v * w).sum()), "head": f32(t.flatten()[:4].tolist())}
    src = open(args.source, "rb").read()
    fixture = {
        "made_by": "scripts/check_hf_export.py --write-fixture (scripts/make_hf_export_fixture.sh)",
        "transformers": transformers.__version__, "torch": torch.__version__,
        "source": args.source_name or args.source, "source_bytes": len(src), "source_crc32": zlib.crc32(src),
        "export": "llama export SOURCE --to DIR --format hf (F32)",
        "prompts": prompts, "tensors": tensors,
    }
    with open(args.write_fixture, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.write_fixture}: {len(prompts)} prompts, {len(tensors)} tensors")


def compare(args):
    m = load(args.hf_dir)
    ref = json.load(open(args.ref_json))
    ids = torch.tensor([ref["ids"]])
    with torch.no_grad():
        logits = m(ids).logits[0, -1]
    print("max abs diff vs ref:", float((logits - torch.tensor(ref["last_logits"])).abs().max()))
    out = m.generate(ids, max_new_tokens=len(ref["greedy_next"]), do_sample=False)
    print("greedy equal:", out[0, ids.shape[1]:].tolist() == ref["greedy_next"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hf_dir")
    p.add_argument("ref_json", nargs="?")
    p.add_argument("--write-fixture")
    p.add_argument("--source", help="the exported model file (recorded by size and CRC-32)")
    p.add_argument("--source-name", help="how the fixture names the source (default: --source)")
    p.add_argument("--ids", action="append", default=[], help="space-separated token ids; repeatable")
    args = p.parse_args()
    if args.write_fixture:
        if not args.source or not args.ids:
            p.error("--write-fixture needs --source and at least one --ids")
        write_fixture(args)
    elif args.ref_json:
        compare(args)
    else:
        p.error("give REF_JSON or --write-fixture")


if __name__ == "__main__":
    main()
