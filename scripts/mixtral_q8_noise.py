#!/usr/bin/env python3
"""Mixtral Q8_0's short input: how often int8 activations flip layer 0's router near tie.

The companion of scripts/gemma_q8_noise.py for ../shared/arch/mixtral: the forward pass in
float64 numpy on model-q8_0.gguf's weights (gguf-py's dequantize), exact / with our int8
activations (fp32 block scales) / with llama.cpp's roundings (fp16 block scales, fp16 Q/K/V),
printing layer 0's router logits at position 12 (experts 0 and 1 are 0.0024 apart in exact
math) and the distance to transformers' logits; then 40 draws of each with the activations
jittered by 1e-4 before quantization. Usage: scripts/mixtral_q8_noise.py GGUF_PY_DIR
"""
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader
from gguf.quants import dequantize
A=sys.argv[2] if len(sys.argv) > 2 else '../shared/arch/mixtral'; ref=json.load(open(A+'/ref.json')); cfg=ref['config']
D=cfg['hidden_size']; H=cfg['num_attention_heads']; HD=cfg['head_dim']; L=cfg['num_hidden_layers']; EPS=cfg['rms_norm_eps']; K=cfg['num_experts_per_tok']
TH=cfg['rope_parameters']['rope_theta']
W={}
for t in GGUFReader(A+'/model-q8_0.gguf').tensors:
    W[t.name]=(dequantize(t.data,t.tensor_type).reshape([int(x) for x in reversed(t.shape)]).astype(np.float64), t.tensor_type.name)
rng=np.random.default_rng(1)
def f16(x): return np.asarray(x,dtype=np.float32).astype(np.float16).astype(np.float64)
def q8(x,fp16s,jit):
    x=np.asarray(x,dtype=np.float64)
    if jit: x=x*(1+jit*rng.standard_normal(x.shape))
    b=x.astype(np.float32).reshape(-1,32); amax=np.abs(b).max(1,keepdims=True); d=amax/np.float32(127)
    inv=np.where(amax>0,np.float32(127)/np.where(amax>0,amax,1),0).astype(np.float32)
    return (np.rint(b*inv)*(f16(d) if fp16s else d.astype(np.float64))).reshape(x.shape)
def fwd(ids, mode, jit=0.0, log=None):
    ll=mode=='llamacpp'
    def mmw(w,ty,x):
        if mode!='exact' and ty=='Q8_0': x=q8(x,ll,jit)
        return x@w.T
    def mm(n,x): w,ty=W[n]; return mmw(w,ty,x)
    def norm(x,w): return x/np.sqrt((x*x).mean(-1,keepdims=True)+EPS)*w
    n=len(ids); ang=np.arange(n)[:,None]*TH**(-np.arange(0,HD,2)/HD)[None]; c=np.cos(ang)[:,None]; s=np.sin(ang)[:,None]
    def rope(v):  # GGUF llama layout: interleaved pairs
        a=v[...,0::2]; b=v[...,1::2]; o=np.empty_like(v); o[...,0::2]=a*c-b*s; o[...,1::2]=a*s+b*c; return o
    x=np.stack([W['token_embd.weight'][0][i] for i in ids])
    for l in range(L):
        p=f'blk.{l}.'
        h=norm(x,W[p+'attn_norm.weight'][0])
        q=rope(mm(p+'attn_q.weight',h).reshape(n,H,HD)); k=rope(mm(p+'attn_k.weight',h).reshape(n,-1,HD)); v=mm(p+'attn_v.weight',h).reshape(n,-1,HD)
        if ll: q,k,v=f16(q),f16(k),f16(v)
        sc=np.einsum('ihd,jhd->hij',q,k)/np.sqrt(HD)+np.triu(np.full((n,n),-np.inf),1)
        sc=np.exp(sc-sc.max(-1,keepdims=True)); sc/=sc.sum(-1,keepdims=True)
        x=x+mm(p+'attn_output.weight',np.einsum('hij,jhd->ihd',sc,v).reshape(n,-1))
        h=norm(x,W[p+'ffn_norm.weight'][0])
        r=h@W[p+'ffn_gate_inp.weight'][0].T
        if log is not None: log.append(r)
        out=np.zeros_like(h)
        G,ty=W[p+'ffn_gate_exps.weight']; U,_=W[p+'ffn_up_exps.weight']; Dn,_=W[p+'ffn_down_exps.weight']
        for i in range(n):
            top=np.argsort(-r[i])[:K]; wts=np.exp(r[i][top]-r[i][top].max()); wts/=wts.sum()
            for e,wt in zip(top,wts):
                g=mmw(G[e],ty,h[i:i+1]); u=mmw(U[e],ty,h[i:i+1]); a=g/(1+np.exp(-g))*u
                out[i]+=wt*mmw(Dn[e],ty,a)[0]
        x=x+out
    return mm('output.weight',norm(x,W['output_norm.weight'][0]))[-1]
r=np.array(ref['last_logits'])
for mode in ['exact','ours','llamacpp']:
    lg=[]; z=fwd(ref['ids'],mode,log=lg); rr=lg[0][12]; print(mode, 'dist %.4f'%abs(z-r).max(), 'layer0 pos12 router', np.round(rr,4))
bar=1.25*ref['llamacpp_q8_0_max_abs_diff']['short']+0.01
for mode in ['ours','llamacpp']:
    d=[]; 
    for _ in range(40):
        d.append(abs(fwd(ref['ids'],mode,1e-4)-r).max())
    d=np.array(d); print(mode,'jittered x40: mean %.3f min %.3f max %.3f, above bar %.3f: %.0f%%'%(d.mean(),d.min(),d.max(),bar,100*np.mean(d>bar)))
