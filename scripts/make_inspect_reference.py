#!/usr/bin/env python3
"""The reference for `llama inspect --json`: what HF transformers computes, in fp32 with eager
attention, on the Hugging Face folders of the shared fixtures dev-llama3 and dev-odd.

For each fixture it runs the 25 ids of the fixture's ref.json and writes
Tests/LlamaTests/Fixtures/inspect/<fixture>.json with the keys of `llama inspect --json`:

  tokens      the ids
  residual    [L+1][T][D]: HF's hidden_states[0..L-1] (the embeddings, then the output of each
              layer) and, for index L, the last layer's output BEFORE the final norm (HF's
              last hidden_states entry is after the final norm, so it is taken from a hook
              on model.model.norm's input)
  final_norm  [T][D]: HF's last hidden_states entry (the final norm's output)
  attention   [L][H][T][T]: output_attentions (softmax probabilities, zeros above the diagonal)
  logit_lens  [L][T]: argmax of lm_head(norm(residual[l+1])), with logit_lens_margin the gap
              between the two largest logits (a tie-breaker check for near-ties)
  top_k       the 10 most likely next ids at the last position (id, probability)

Needs torch and transformers (a venv outside the repository, e.g. /work/scratch/venv-hf):
  python scripts/make_inspect_reference.py [--shared ../shared] [--out Tests/LlamaTests/Fixtures/inspect]
"""
import argparse
import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM

FIXTURES = ["dev-llama3", "dev-odd"]


def f32(values):
    # Nine significant digits hold any float32 exactly.
    return [float(f"{v:.9g}") for v in values]


def nested(t):
    if t.dim() == 1:
        return f32(t.tolist())
    return [nested(x) for x in t]


def reference(folder, ids):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    captured = {}
    hook = model.model.norm.register_forward_pre_hook(lambda _m, args: captured.__setitem__("pre_norm", args[0].detach().clone()))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True, output_attentions=True, use_cache=False)
    hook.remove()
    hs = out.hidden_states
    layers = len(hs) - 1
    residual = [hs[i][0] for i in range(layers)] + [captured["pre_norm"][0]]
    final_norm = hs[layers][0]
    attention = [a[0] for a in out.attentions]
    lens, margin = [], []
    with torch.no_grad():
        for r in residual[1:]:
            logits = model.lm_head(model.model.norm(r))
            top2 = torch.topk(logits, 2, dim=-1)
            lens.append(top2.indices[:, 0].tolist())
            margin.append(f32((top2.values[:, 0] - top2.values[:, 1]).tolist()))
    last = out.logits[0, -1]
    probs = torch.softmax(last.double(), dim=-1)
    top = torch.topk(last, 10)
    return {
        "source": f"HF transformers {transformers.__version__}, torch {torch.__version__}, fp32, eager attention, {os.path.basename(os.path.dirname(folder))}/hf",
        "tokens": ids,
        "residual": [nested(r) for r in residual],
        "final_norm": nested(final_norm),
        "attention": [nested(a) for a in attention],
        "logit_lens": lens,
        "logit_lens_margin": margin,
        "top_k": [{"id": int(i), "probability": float(probs[i])} for i in top.indices.tolist()],
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "Tests", "LlamaTests", "Fixtures", "inspect"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in FIXTURES:
        fixture = os.path.join(args.shared, "fixtures", name)
        with open(os.path.join(fixture, "ref.json")) as f:
            ids = json.load(f)["ids"]
        ref = reference(os.path.join(fixture, "hf"), ids)
        path = os.path.join(args.out, name + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        print(f"{path}: {len(ids)} tokens, {len(ref['residual']) - 1} layers, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
