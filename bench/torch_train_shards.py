#!/usr/bin/env python3
"""PyTorch reference for the training benchmarks: a copy of ../shared/tools/torch_train_ref.py
(a Llama-architecture model, the recipe SwiftLlama is asked to match) extended to train on the
token shards of `llama prepare`, so that both engines train on the same tokens, and with
--autocast to train with PyTorch's CPU autocast to bfloat16 (the evaluation stays fp32).

Usage: torch_train_shards.py DATA [--iters 2000] [--threads 2] [--dim 128] [--layers 4] ...
DATA is a text file (byte-level, vocabulary 256, as the original) or a `llama prepare` output
directory: DIR/meta.json gives `vocab_size` and the shard files of each split
(Sources/Llama/Training/TokenShard.swift: "LTOK", u32 version 1, u32 bytes per token (2 or 4),
u32 vocabulary size, u64 count, u64 reserved, then the ids little-endian).
Prints one JSON line: wall seconds (training steps only), tokens/s, final train and val loss in
nats per token, each the mean over every non-overlapping context-length window of its split
(deterministic); with --train-eval-windows N, the train loss averages N of those windows spread
evenly over the split, the windows `llama train --eval-steps` picks (N = eval steps × batch).
"""
import argparse, json, math, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__(); self.eps = eps; self.w = nn.Parameter(torch.ones(d))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):  # x: B,T,H,hd interleaved pairs
    x1, x2 = x[..., 0::2], x[..., 1::2]
    o1 = x1 * cos - x2 * sin
    o2 = x1 * sin + x2 * cos
    return torch.stack([o1, o2], -1).flatten(-2)


class Block(nn.Module):
    def __init__(s, d, h, kv, hid):
        super().__init__()
        s.h, s.kv, s.hd = h, kv, d // h
        s.wq = nn.Linear(d, h * s.hd, bias=False); s.wk = nn.Linear(d, kv * s.hd, bias=False)
        s.wv = nn.Linear(d, kv * s.hd, bias=False); s.wo = nn.Linear(h * s.hd, d, bias=False)
        s.w1 = nn.Linear(d, hid, bias=False); s.w2 = nn.Linear(hid, d, bias=False); s.w3 = nn.Linear(d, hid, bias=False)
        s.n1 = RMSNorm(d); s.n2 = RMSNorm(d)
    def forward(s, x, cos, sin):
        B, T, D = x.shape
        h = s.n1(x)
        q = s.wq(h).view(B, T, s.h, s.hd); k = s.wk(h).view(B, T, s.kv, s.hd); v = s.wv(h).view(B, T, s.kv, s.hd)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = s.h // s.kv
        k = k.repeat_interleave(rep, 2); v = v.repeat_interleave(rep, 2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + s.wo(a.transpose(1, 2).reshape(B, T, D))
        h = s.n2(x)
        return x + s.w2(F.silu(s.w1(h)) * s.w3(h))


class Model(nn.Module):
    def __init__(s, V, d, L, h, kv, hid, T, theta=10000.0):
        super().__init__()
        s.emb = nn.Embedding(V, d); s.blocks = nn.ModuleList([Block(d, h, kv, hid) for _ in range(L)])
        s.norm = RMSNorm(d); s.out = nn.Linear(d, V, bias=False)
        hd = d // h
        f = 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd)
        ang = torch.outer(torch.arange(T).float(), f)
        s.register_buffer("cos", ang.cos()[None, :, None, :]); s.register_buffer("sin", ang.sin()[None, :, None, :])
        for n, p in s.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            if n.endswith("wo.weight") or n.endswith("w2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))
    def forward(s, idx, tgt=None):
        T = idx.shape[1]
        x = s.emb(idx)
        for b in s.blocks:
            x = b(x, s.cos[:, :T], s.sin[:, :T])
        logits = s.out(s.norm(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.view(-1))


def read_shard(path, vocab):
    raw = open(path, "rb").read()
    magic, version, width, shard_vocab, count = struct.unpack_from("<4sIIIQ", raw, 0)
    if magic != b"LTOK" or version != 1 or width not in (2, 4):
        raise SystemExit(f"{path}: not a version-1 token shard")
    if shard_vocab != vocab or len(raw) != 32 + count * width:
        raise SystemExit(f"{path}: vocabulary {shard_vocab} (meta.json: {vocab}) or size does not match its header")
    return np.frombuffer(raw, dtype="<u2" if width == 2 else "<u4", count=count, offset=32).astype(np.int64)


def load(data):
    """(vocab, train, val): the shards of a `llama prepare` directory, or bytes of a text file
    split 90/10 as the original reference splits it."""
    if os.path.isdir(data):
        meta = json.load(open(os.path.join(data, "meta.json")))
        vocab = meta["vocab_size"]
        split = lambda key: np.concatenate([read_shard(os.path.join(data, f), vocab) for f in meta[key]])
        return vocab, split("train_files"), split("val_files")
    raw = np.frombuffer(open(data, "rb").read(), dtype=np.uint8).astype(np.int64)
    n = int(0.9 * len(raw))
    return 256, raw[:n], raw[n:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data"); ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4); ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=4); ap.add_argument("--hidden", type=int, default=352)
    ap.add_argument("--context", type=int, default=64); ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3); ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100); ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--train-eval-windows", type=int, default=0)
    ap.add_argument("--autocast", action="store_true",
                    help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16): bf16 linear products, "
                         "fp32 master weights and optimizer (what `llama train --precision bf16` is compared with)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed); np.random.seed(a.seed)
    vocab, train, val = load(a.data)
    m = Model(vocab, a.dim, a.layers, a.heads, a.kv_heads, a.hidden, a.context)
    decay = [p for p in m.parameters() if p.dim() >= 2]; nodecay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.99))

    def batch(src):
        ix = np.random.randint(0, len(src) - a.context - 1, a.batch)
        x = torch.from_numpy(np.stack([src[i:i + a.context] for i in ix]))
        y = torch.from_numpy(np.stack([src[i + 1:i + 1 + a.context] for i in ix]))
        return x, y

    def lr_at(it):
        if it < a.warmup: return a.lr * (it + 1) / a.warmup
        r = (it - a.warmup) / max(1, a.iters - a.warmup)
        return a.min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (a.lr - a.min_lr)

    @torch.no_grad()
    def evaluate(src, windows=0):
        # deterministic: mean loss over every non-overlapping window of `context` targets in the split
        # (or over `windows` of them spread evenly, as `llama train` picks them)
        n = (len(src) - 1) // a.context
        starts = np.arange(n) * a.context
        if 0 < windows < n:
            starts = (np.arange(windows) * n // windows) * a.context
        x = torch.from_numpy(np.stack([src[i:i + a.context] for i in starts]))
        y = torch.from_numpy(np.stack([src[i + 1:i + 1 + a.context] for i in starts]))
        m.eval(); tot = 0.0
        step = max(1, 16384 // a.context)  # windows per pass: logits of at most 16k positions
        for i in range(0, len(x), step):
            tot += m(x[i:i + step], y[i:i + step]).item() * len(x[i:i + step])
        m.train(); return tot / len(x)

    t0 = time.time()
    for it in range(a.iters):
        for g in opt.param_groups: g["lr"] = lr_at(it)
        x, y = batch(train)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast):
            loss = m(x, y)
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    wall = time.time() - t0
    print(json.dumps(dict(wall_s=round(wall, 2), tokens_per_s=round(a.iters * a.batch * a.context / wall, 1),
                          train_loss=round(evaluate(train, a.train_eval_windows), 4), val_loss=round(evaluate(val), 4),
                          params=sum(p.numel() for p in m.parameters()), config=vars(a))))


if __name__ == "__main__":
    main()
