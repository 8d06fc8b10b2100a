#!/usr/bin/env python3
"""Reference logits for a K-quant GGUF: the weights dequantized by gguf-py (the exact
values llama.cpp's quantizer stored) and a plain float64 Llama forward in numpy, written
here independently of SwiftLlama. Writes ids, last logits and greedy continuations for a
short and a long input, as ref.json-style JSON.

Usage: make_kquant_fixture.py MODEL.gguf OUT.json [--long 300] [--seed 5]   (needs numpy, gguf)
Made by scripts/make_kquant_fixture.sh, which also makes MODEL.gguf.
"""
import argparse, json
import numpy as np
import gguf


def field(r, name):
    f = r.fields[name]
    v = f.parts[f.data[0]]
    return v.tobytes().decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0].item()


def load(path):
    r = gguf.GGUFReader(path)
    W = {}
    for t in r.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        W[t.name] = w.reshape([int(n) for n in reversed(t.shape)]) if w.ndim > 1 or len(t.shape) > 1 else w.reshape(-1)
    arch = field(r, "general.architecture")
    cfg = dict(
        dim=field(r, f"{arch}.embedding_length"), layers=field(r, f"{arch}.block_count"),
        heads=field(r, f"{arch}.attention.head_count"), kv=field(r, f"{arch}.attention.head_count_kv"),
        eps=field(r, f"{arch}.attention.layer_norm_rms_epsilon"), theta=field(r, f"{arch}.rope.freq_base"))
    return W, cfg


def forward(W, c, ids):
    D, H, KV = c["dim"], c["heads"], c["kv"]
    hd = D // H
    T = len(ids)

    def norm(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + c["eps"]) * w

    freqs = c["theta"] ** (-np.arange(0, hd, 2) / hd)
    ang = np.arange(T)[:, None] * freqs[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x, n):  # interleaved pairs (GGUF / Meta layout)
        x = x.reshape(T, n, hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        return np.stack([a * cos[:, None] - b * sin[:, None], a * sin[:, None] + b * cos[:, None]], -1).reshape(T, n * hd)

    x = W["token_embd.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(c["layers"]):
        p = f"blk.{l}."
        h = norm(x, W[p + "attn_norm.weight"])
        q = rope(h @ W[p + "attn_q.weight"].T, H).reshape(T, H, hd)
        k = rope(h @ W[p + "attn_k.weight"].T, KV).reshape(T, KV, hd)
        v = (h @ W[p + "attn_v.weight"].T).reshape(T, KV, hd)
        out = np.zeros((T, H, hd))
        for i in range(H):
            j = i // (H // KV)
            s = q[:, i] @ k[:, j].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, i] = (s / s.sum(-1, keepdims=True)) @ v[:, j]
        x = x + out.reshape(T, D) @ W[p + "attn_output.weight"].T
        h = norm(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "ffn_up.weight"].T)) @ W[p + "ffn_down.weight"].T
    out_w = W.get("output.weight", W["token_embd.weight"])
    return norm(x[-1], W["output_norm.weight"]) @ out_w.T


def greedy(W, c, ids, n):
    ids, nxt = list(ids), []
    for _ in range(n):
        t = int(np.argmax(forward(W, c, ids)))
        nxt.append(t)
        ids.append(t)
    return nxt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--long", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    W, c = load(a.model)
    vocab = W["token_embd.weight"].shape[0]
    rng = np.random.default_rng(a.seed)
    ids = [int(i) for i in rng.integers(0, vocab, 20)]
    long_ids = [int(i) for i in rng.integers(0, vocab, a.long)]
    ref = dict(peer="gguf-py dequantize + numpy float64 Llama forward (scripts/make_kquant_fixture.py)",
               ids=ids, last_logits=forward(W, c, ids).tolist(), greedy_next=greedy(W, c, ids, 4),
               long_ids=long_ids, long_last_logits=forward(W, c, long_ids).tolist(),
               long_greedy_next=greedy(W, c, long_ids, 2))
    with open(a.out, "w") as f:
        json.dump(ref, f)
    print("logits range", min(ref["last_logits"]), max(ref["last_logits"]))


if __name__ == "__main__":
    main()
