#!/usr/bin/env python3
"""Writes Tests/LlamaTests/Fixtures/train_grads.json: a tiny Llama (GQA, RoPE, tied and
untied output) built exactly as ../shared/tools/torch_train_ref.py builds its model, its
weights, one input batch, the mean cross-entropy loss and every parameter's gradient; and a
Qwen2-style one (`llama train --qkv-bias`: q/k/v biases and rotate-half RoPE, as
transformers' Qwen2 attention computes them).
The Swift test TrainingGradientTests compares its own forward/backward against these.

Usage: python scripts/make_grad_fixture.py   (needs torch and numpy; run from the repo root)
"""
import json, math, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

# The reference's modules, restated so the script does not depend on ../shared.
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__(); self.eps = eps; self.w = nn.Parameter(torch.ones(d))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w

def rope(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)

def rope_rotate_half(x, cos, sin):
    """transformers' apply_rotary_pos_emb: pairs (i, i + hd/2), same angles."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

class Block(nn.Module):
    def __init__(s, d, h, kv, hid, qkv_bias=False):
        super().__init__()
        s.h, s.kv, s.hd = h, kv, d // h
        s.rope = rope_rotate_half if qkv_bias else rope
        s.wq = nn.Linear(d, h * s.hd, bias=qkv_bias); s.wk = nn.Linear(d, kv * s.hd, bias=qkv_bias)
        s.wv = nn.Linear(d, kv * s.hd, bias=qkv_bias); s.wo = nn.Linear(h * s.hd, d, bias=False)
        s.w1 = nn.Linear(d, hid, bias=False); s.w2 = nn.Linear(hid, d, bias=False); s.w3 = nn.Linear(d, hid, bias=False)
        s.n1 = RMSNorm(d); s.n2 = RMSNorm(d)
    def forward(s, x, cos, sin):
        B, T, D = x.shape
        h = s.n1(x)
        q = s.wq(h).view(B, T, s.h, s.hd); k = s.wk(h).view(B, T, s.kv, s.hd); v = s.wv(h).view(B, T, s.kv, s.hd)
        q, k = s.rope(q, cos, sin), s.rope(k, cos, sin)
        rep = s.h // s.kv
        k = k.repeat_interleave(rep, 2); v = v.repeat_interleave(rep, 2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + s.wo(a.transpose(1, 2).reshape(B, T, D))
        h = s.n2(x)
        return x + s.w2(F.silu(s.w1(h)) * s.w3(h))

class Model(nn.Module):
    def __init__(s, V, d, L, h, kv, hid, T, tied, qkv_bias=False, theta=10000.0):
        super().__init__()
        s.emb = nn.Embedding(V, d); s.blocks = nn.ModuleList([Block(d, h, kv, hid, qkv_bias) for _ in range(L)])
        s.norm = RMSNorm(d); s.out = nn.Linear(d, V, bias=False)
        if tied: s.out.weight = s.emb.weight
        hd = d // h
        f = 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd)
        ang = torch.outer(torch.arange(T).float(), f)
        s.register_buffer("cos", ang.cos()[None, :, None, :]); s.register_buffer("sin", ang.sin()[None, :, None, :])
        # Larger than the training init so every path (attention, norms) carries signal.
        for n, p in s.named_parameters():
            if p.dim() == 2: nn.init.normal_(p, 0.0, 0.3)
            elif n.endswith(".bias"): nn.init.normal_(p, 0.0, 0.3)
            else: nn.init.normal_(p, 1.0, 0.2)
    def forward(s, idx, tgt):
        x = s.emb(idx)
        for b in s.blocks: x = b(x, s.cos, s.sin)
        logits = s.out(s.norm(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.view(-1))

def canonical(m, L, tied):
    """(Meta name, tensor) in SwiftLlama's layout order (qwen2: biases after wv)."""
    out = [("tok_embeddings.weight", m.emb.weight)]
    for l, b in enumerate(m.blocks):
        p = f"layers.{l}."
        out += [(p + "attention_norm.weight", b.n1.w), (p + "attention.wq.weight", b.wq.weight),
                (p + "attention.wk.weight", b.wk.weight), (p + "attention.wv.weight", b.wv.weight)]
        if b.wq.bias is not None:
            out += [(p + "attention.wq.bias", b.wq.bias), (p + "attention.wk.bias", b.wk.bias),
                    (p + "attention.wv.bias", b.wv.bias)]
        out += [(p + "attention.wo.weight", b.wo.weight), (p + "ffn_norm.weight", b.n2.w),
                (p + "feed_forward.w1.weight", b.w1.weight), (p + "feed_forward.w2.weight", b.w2.weight),
                (p + "feed_forward.w3.weight", b.w3.weight)]
    out.append(("norm.weight", m.norm.w))
    if not tied: out.append(("output.weight", m.out.weight))
    return out

def r(t): return [float(f"{v:.8g}") for v in t.detach().double().flatten().tolist()]

def main():
    cfg = dict(vocab_size=32, dim=16, layers=2, heads=4, kv_heads=2, hidden=40, context=8, batch=2)
    cases = []
    for seed, tied, qkv_bias in [(1, False, False), (2, True, False), (3, False, True)]:
        torch.manual_seed(seed)
        m = Model(cfg["vocab_size"], cfg["dim"], cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["hidden"],
                  cfg["context"], tied, qkv_bias).double()
        # fp64 so the fixture is exact to far below the fp32 tolerance the Swift test uses.
        m.cos, m.sin = m.cos.double(), m.sin.double()
        x = torch.randint(0, cfg["vocab_size"], (cfg["batch"], cfg["context"]))
        y = torch.randint(0, cfg["vocab_size"], (cfg["batch"], cfg["context"]))
        loss = m(x, y); loss.backward()
        cases.append(dict(tied=tied, qkv_bias=qkv_bias, tokens=x.flatten().tolist(), targets=y.flatten().tolist(),
                          loss=loss.item(),
                          params=[dict(name=n, shape=list(p.shape), value=r(p), grad=r(p.grad))
                                  for n, p in canonical(m, cfg["layers"], tied)]))
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "LlamaTests", "Fixtures", "train_grads.json")
    with open(path, "w") as f:
        json.dump(dict(config=cfg, torch=torch.__version__, cases=cases), f)
    print(path, os.path.getsize(path), "bytes")

if __name__ == "__main__":
    main()
