"""Load for bench/serve.sh: N concurrent streaming clients against an OpenAI-compatible
/v1/completions on loopback (ours or llama.cpp's llama-server), standard library only.

    python3 bench/serve_load.py URL --clients N --requests R --max-tokens T [--long-prompt P]

Each client sends R streaming requests one after another (greedy, ignore_eos, so every
request generates exactly T tokens). Prints one JSON object: time to first token p50/p99,
aggregate generated tokens/s over the whole run, errors, and with --long-prompt P the
running streams' inter-token gaps around a P-token prompt sent mid-run (as the client saw
them, and the longest as the server timed it when it reports one).
"""
import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--requests", type=int, default=2)
ap.add_argument("--max-tokens", type=int, default=128)
ap.add_argument("--long-prompt", type=int, default=0)
ap.add_argument("--timeout", type=float, default=300)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"

PROMPTS = ["Once upon a time", "The king said", "In the morning the", "ROMEO:", "First Citizen:",
           "It was a dark and", "To be or not", "The quick brown fox"]


def stream(prompt, max_tokens, on_token=None):
    """One streaming completion: (ttft seconds, tokens, token arrival times) or raises."""
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    ttft, times, usage, timings = None, [], None, None
    for raw in r:
        line = raw.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk.get("timings"):
            timings = chunk["timings"]
        for c in chunk.get("choices", []):
            if c.get("text"):
                now = time.perf_counter()
                if ttft is None:
                    ttft = now - t0
                times.append(now)
                if on_token:
                    on_token(now)
    conn.close()
    tokens = usage["completion_tokens"] if usage else len(times)
    stream.prompt_tokens = usage.get("prompt_tokens") if usage else None
    # The server's own longest wait between this stream's tokens (SwiftLlama's timings).
    gap_ms = (timings or {}).get("max_token_gap_ms")
    if gap_ms is not None:
        with lock:
            server_gaps.append(gap_ms / 1000)
    return ttft if ttft is not None else time.perf_counter() - t0, tokens, times


ttfts, errors, total_tokens, server_gaps = [], [], [0], []
lock = threading.Lock()
arrivals = []  # (time, client) for the gap measurement


def client(i):
    for k in range(a.requests):
        try:
            ttft, tokens, times = stream(PROMPTS[(i + k) % len(PROMPTS)], a.max_tokens,
                                         on_token=(lambda t, i=i: arrivals.append((t, i))) if a.long_prompt else None)
            with lock:
                ttfts.append(ttft)
                total_tokens[0] += tokens
        except Exception as e:  # counted and reported
            with lock:
                errors.append(repr(e))


threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
start = time.perf_counter()
for t in threads:
    t.start()
long_result = None
if a.long_prompt:
    # Once the streams run, send a long prompt (max_tokens 1) and look at the gaps between
    # consecutive tokens of the running streams before and while it is read.
    time.sleep(1.0)
    sent = time.perf_counter()
    try:
        ttft_long, _, _ = stream("the " * a.long_prompt, 1)
        done = time.perf_counter()
        long_result = {"prompt_words": a.long_prompt, "long_prompt_ttft_s": round(ttft_long, 4),
                       "prompt_tokens": getattr(stream, "prompt_tokens", None), "sent": sent, "done": done}
    except Exception as e:
        errors.append("long prompt: " + repr(e))
for t in threads:
    t.join()
wall = time.perf_counter() - start


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


out = {"clients": a.clients, "requests": a.clients * a.requests, "max_tokens": a.max_tokens,
       "ttft_p50_s": pct(ttfts, 50), "ttft_p99_s": pct(ttfts, 99), "generated_tokens": total_tokens[0],
       "wall_s": round(wall, 3), "tokens_per_s": round(total_tokens[0] / wall, 2), "errors": len(errors),
       "error_samples": errors[:3]}
if long_result:
    gaps_before, gaps_during = [], []
    last = {}
    for t, i in sorted(arrivals):
        if i in last:
            gap = t - last[i]
            if t < long_result["sent"]:
                gaps_before.append(gap)
            elif t <= long_result["done"] + 0.05:
                gaps_during.append(gap)
        last[i] = t
    out["long_prompt"] = {"words": a.long_prompt, "ttft_s": long_result["long_prompt_ttft_s"],
                          "prompt_tokens": long_result["prompt_tokens"],
                          "gap_median_before_s": statistics.median(gaps_before) if gaps_before else None,
                          "gap_max_during_s": max(gaps_during) if gaps_during else None,
                          "server_gap_max_s": max(server_gaps) if server_gaps else None}
print(json.dumps(out))
