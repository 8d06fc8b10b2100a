#!/usr/bin/env python3
# Distance of the logits to HF's (max |Δ| over the last position, short and long prompt of each
# fixture's ref.json) when chosen prompt products take BF16 products: one column per value of
# LLAMA_BF16_PRODUCTS ("0" = fp32, a ProductRole list such as "qkv" or "gate_up,down", "1" =
# every product). Fixtures: /work/shared's dev-odd F16/BF16 GGUF, dev-llama3 and the arch
# fixtures' bf16 safetensors. Needs a CPU with AVX512_BF16 (elsewhere every column is fp32).
#   bench/bf16_roles.py .build/release/llama "0;qkv;wo;gate_up;down;1" [SHARED=/work/shared]
import json, os, subprocess, sys, tempfile
bin = sys.argv[1]
settings = sys.argv[2].split(';')
S = sys.argv[3] if len(sys.argv) > 3 else "/work/shared"
models = [('dev-odd f16', f'{S}/fixtures/dev-odd/model-f16.gguf', f'{S}/fixtures/dev-odd/ref.json'),
          ('dev-odd bf16', f'{S}/fixtures/dev-odd/model-bf16.gguf', f'{S}/fixtures/dev-odd/ref.json'),
          ('dev-llama3 hf', f'{S}/fixtures/dev-llama3/hf', f'{S}/fixtures/dev-llama3/ref.json')]
for a in ['mistral', 'mixtral', 'qwen2', 'phi3', 'gemma', 'gemma2', 'gpt2']:
    models.append((f'{a} hf', f'{S}/arch/{a}/hf', f'{S}/arch/{a}/ref.json'))
out = tempfile.mktemp(suffix='.json')
print('| model | ' + ' | '.join(settings) + ' |'); print('| --- |' + ' ---: |' * len(settings)); sys.stdout.flush()
for name, path, refp in models:
    ref = json.load(open(refp))
    cells = []
    for s in settings:
        worst = 0.0
        for ids, logits in [(ref['ids'], ref['last_logits']), (ref['long_ids'], ref['long_last_logits'])]:
            env = dict(os.environ, LLAMA_BF16_PRODUCTS=s)
            r = subprocess.run([bin, 'generate', '--model', path, '--ids', ' '.join(map(str, ids)), '--temperature', '0',
                                '--max-tokens', '1', '--print-ids', '--logits-out', out], env=env, capture_output=True, text=True)
            if r.returncode != 0: cells.append('ERR ' + r.stderr.strip()[:80]); break
            got = json.load(open(out))
            worst = max(worst, max(abs(x - y) for x, y in zip(got, logits)))
        else:
            cells.append(f'{worst:.2e}')
    print(f'| {name} | ' + ' | '.join(cells) + ' |'); sys.stdout.flush()
