#!/usr/bin/env python3
"""Loads a directory written by `llama export --format hf` with HF transformers and prints the
max abs difference of its last-position logits from a reference ref.json (fixtures), and its
greedy continuation.  Usage: check_hf_export.py HF_DIR REF_JSON   (needs torch, transformers)"""
import json, sys
import torch
from transformers import LlamaForCausalLM
m = LlamaForCausalLM.from_pretrained(sys.argv[1], torch_dtype=torch.float32).eval()
ref = json.load(open(sys.argv[2]))
ids = torch.tensor([ref["ids"]])
with torch.no_grad():
    logits = m(ids).logits[0, -1]
print("max abs diff vs ref:", float((logits - torch.tensor(ref["last_logits"])).abs().max()))
out = m.generate(ids, max_new_tokens=len(ref["greedy_next"]), do_sample=False)
print("greedy equal:", out[0, ids.shape[1]:].tolist() == ref["greedy_next"])
