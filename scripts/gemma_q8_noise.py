#!/usr/bin/env python3
"""How far Q8_0 Gemma logits land from transformers' fp32 reference, and how much of that is chance.

Runs the Gemma forward pass of ../shared/arch/gemma in float64 numpy on the weights of
model-q8_0.gguf as gguf-py's `dequantize` gives them, three ways:
  exact     fp32 activations (weight quantization alone);
  ours      activations quantized to int8 per 32 before every Q8_0 matmul, fp32 block scales
            (what SwiftLlama's kernels compute: its logits match this within 1e-6);
  llamacpp  the same with llama.cpp's roundings: block scales stored as fp16, Q/K/V in fp16
            (F16 KV cache), GELU from ggml's fp16 table (input and output rounded to fp16).
Then it repeats `ours` and `llamacpp` with the activations jittered by 1e-4 (relative) before
each quantization, which moves only which values round up or down, and prints the spread of
the max |logit - reference|: the distance of an int8-activation engine is a random draw.

Usage: scripts/gemma_q8_noise.py GGUF_PY_DIR [FIXTURE_DIR] [TRIALS]
  GGUF_PY_DIR  llama.cpp's gguf-py (e.g. the llama-cpp-python sdist's vendor/llama.cpp/gguf-py)
"""
import json, sys
import numpy as np

sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

fixture = sys.argv[2] if len(sys.argv) > 2 else "../shared/arch/gemma"
trials = int(sys.argv[3]) if len(sys.argv) > 3 else 60
ref = json.load(open(fixture + "/ref.json"))
cfg = ref["config"]
D, H, HD, L, EPS = cfg["hidden_size"], cfg["num_attention_heads"], cfg["head_dim"], cfg["num_hidden_layers"], cfg["rms_norm_eps"]
THETA = cfg["rope_parameters"]["rope_theta"]

W = {}
for t in GGUFReader(fixture + "/model-q8_0.gguf").tensors:
    shape = [int(x) for x in reversed(t.shape)]
    W[t.name] = (dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float64), t.tensor_type.name)

rng = np.random.default_rng(0)


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float64)


def q8(x, fp16_scale, jitter):
    x = np.asarray(x, dtype=np.float64)
    if jitter:
        x = x * (1 + jitter * rng.standard_normal(x.shape))
    b = x.astype(np.float32).reshape(-1, 32)
    amax = np.abs(b).max(1, keepdims=True)
    d = amax / np.float32(127)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    q = np.rint(b * inv)
    return (q * (f16(d) if fp16_scale else d.astype(np.float64))).reshape(x.shape)


def forward(ids, mode, jitter=0.0):
    llama = mode == "llamacpp"

    def mm(name, x):
        w, ty = W[name]
        if mode != "exact" and ty == "Q8_0":
            x = q8(x, llama, jitter)
        return x @ w.T

    def norm(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w

    def gelu(x):
        if llama:
            x = f16(x)
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
        return np.where(x <= -10, 0, np.where(x >= 10, x, f16(y))) if llama else y

    n = len(ids)
    ang = np.arange(n)[:, None] * THETA ** (-np.arange(0, HD, 2) / HD)[None]
    cos, sin = np.cos(ang)[:, None], np.sin(ang)[:, None]

    def rope(v):
        a, b = v[..., : HD // 2], v[..., HD // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)

    x = np.stack([W["token_embd.weight"][0][i] for i in ids]) * np.sqrt(D)
    for l in range(L):
        p = f"blk.{l}."
        h = norm(x, W[p + "attn_norm.weight"][0])
        q = rope(mm(p + "attn_q.weight", h).reshape(n, H, HD))
        k = rope(mm(p + "attn_k.weight", h).reshape(n, -1, HD))
        v = mm(p + "attn_v.weight", h).reshape(n, -1, HD)
        if llama:
            q, k, v = f16(q / np.sqrt(HD)) * np.sqrt(HD), f16(k), f16(v)
        s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(HD) + np.triu(np.full((n, n), -np.inf), 1)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        x = x + mm(p + "attn_output.weight", np.einsum("hij,jhd->ihd", s, v).reshape(n, -1))
        h = norm(x, W[p + "ffn_norm.weight"][0])
        x = x + mm(p + "ffn_down.weight", gelu(mm(p + "ffn_gate.weight", h)) * mm(p + "ffn_up.weight", h))
    return mm("token_embd.weight", norm(x, W["output_norm.weight"][0]))[-1]


for ids, key, lk in [(ref["ids"], "short", "last_logits"), (ref["long_ids"], "long", "long_last_logits")]:
    r = np.array(ref[lk])
    bar = 1.25 * ref["llamacpp_q8_0_max_abs_diff"][key] + 0.01
    print(f"{key}: llama.cpp recorded {ref['llamacpp_q8_0_max_abs_diff'][key]:.4f}, bar {bar:.4f}")
    for mode in ["exact", "ours", "llamacpp"]:
        print(f"  {mode:9s} {abs(forward(ids, mode) - r).max():.4f}")
    for mode in ["ours", "llamacpp"]:
        s = np.array([abs(forward(ids, mode, 1e-4) - r).max() for _ in range(trials)])
        print(f"  {mode:9s} jittered x{trials}: mean {s.mean():.4f} sd {s.std():.4f} min {s.min():.4f} "
              f"max {s.max():.4f}, above the bar {np.mean(s > bar):.0%}")
