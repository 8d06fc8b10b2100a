#!/usr/bin/env python3
"""Reference for Phi-3 LongRoPE (the 128k models' `rope_scaling`), from transformers itself.

    /work/scratch/venv-hf/bin/python scripts/make_phi3_longrope_fixture.py [SHARED] [OUT]

Takes the random-weight Phi-3 of ../shared/arch/phi3/hf, gives it Phi-3-mini-128k's kind of
rope configuration (rope_type longrope, short_factor / long_factor per frequency pair,
max_position_embeddings 32 × original_max_position_embeddings), and records what
`Phi3ForCausalLM` (fp32, eager attention) gives on the fixture's short and long inputs, both
within original_max_position_embeddings, where transformers uses the short factors and the
attention factor sqrt(1 + ln(32) / ln(4096)); and on 4100 ids (`beyond_ids`, seeded random),
longer than original_max_position_embeddings, where transformers runs the long factors at every
position (`beyond_last_logits`, `beyond_greedy_next`). Writes OUT/config.json and OUT/ref.json
(default OUT: Tests/LlamaTests/Fixtures/phi3-longrope).
"""
import json
import os
import sys

import torch
from transformers import Phi3Config, Phi3ForCausalLM
from safetensors.torch import load_file

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../Tests/LlamaTests/Fixtures/phi3-longrope")
hf = os.path.join(shared, "arch/phi3/hf")
ref = json.load(open(os.path.join(shared, "arch/phi3/ref.json")))

config = json.load(open(os.path.join(hf, "config.json")))
half = config["hidden_size"] // config["num_attention_heads"] // 2
config["max_position_embeddings"] = 131072
config["original_max_position_embeddings"] = 4096
config["rope_parameters"] = {
    "rope_type": "longrope",
    "rope_theta": 10000.0,
    "partial_rotary_factor": 1.0,
    "short_factor": [1.0 + 0.45 * i * i / half for i in range(half)],
    "long_factor": [2.0 + 3.0 * i for i in range(half)],
    "original_max_position_embeddings": 4096,
}
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=1)

cfg = Phi3Config.from_pretrained(out)
cfg._attn_implementation = "eager"
model = Phi3ForCausalLM(cfg).float().eval()
state = {k: v.float() for k, v in load_file(os.path.join(hf, "model.safetensors")).items()}
missing, unexpected = model.load_state_dict(state, strict=False)
assert not [m for m in missing if "rotary" not in m], missing
assert not unexpected, unexpected


def run(ids, n):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1].tolist()
        seq = list(ids)
        nxt = []
        for _ in range(n):
            t = int(torch.argmax(model(torch.tensor([seq])).logits[0, -1]))
            nxt.append(t)
            seq.append(t)
    return logits, nxt


last, greedy = run(ref["ids"], 4)
long_last, long_greedy = run(ref["long_ids"], 2)
beyond_ids = torch.randint(4, config["vocab_size"], (4100,), generator=torch.Generator().manual_seed(4100)).tolist()
beyond_last, beyond_greedy = run(beyond_ids, 2)
with open(os.path.join(out, "ref.json"), "w") as f:
    json.dump({"ids": ref["ids"], "last_logits": last, "greedy_next": greedy,
               "long_ids": ref["long_ids"], "long_last_logits": long_last, "long_greedy_next": long_greedy,
               "beyond_ids": beyond_ids, "beyond_last_logits": beyond_last, "beyond_greedy_next": beyond_greedy,
               "made_by": "scripts/make_phi3_longrope_fixture.py, transformers " + __import__("transformers").__version__}, f)
print("wrote", out)
