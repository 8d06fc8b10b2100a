"""Load for bench/serve.sh: N concurrent streaming clients against an OpenAI-compatible
/v1/completions on loopback (ours or llama.cpp's llama-server), standard library only.

    python3 bench/serve_load.py URL --clients N --requests R --max-tokens T [--long-prompt P]

Each client sends R streaming requests one after another (greedy, ignore_eos, so every
request generates exactly T tokens). Prints one JSON object: time to first token p50/p99,
aggregate generated tokens/s over the whole run (from the first request sent to the last
token received: prefill, ramp-up and tail included, the same for every server), the clients'
own CPU seconds, errors, and with --long-prompt P the running streams' inter-token gaps
around a P-token prompt sent mid-run (as the client saw them, and the longest as the server
timed it when it reports one).

The clients share the machine's cores with the server, so they are kept light: one thread
drives every connection through a selector (no thread per client, no GIL hand-offs, one
wake-up for the tokens of several streams that arrive together), the HTTP/1.1 chunked
stream is parsed by hand, and a chunk's JSON is decoded only when it can hold the first
text, the usage or the timings; the other chunks are told apart by their bytes (a
non-empty "text"). Token counts come from the server's usage, as before.
"""
import argparse
import json
import re
import resource
import selectors
import socket
import statistics
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
# A chunk whose text is empty (ours: `"text": ""`, llama-server: `"text":""`) is no token.
EMPTY_TEXT = re.compile(rb'"text": ?""')


class Stream:
    """One streaming completion on its own connection, driven by the selector."""

    def __init__(self, prompt, max_tokens, on_token=None, on_done=None, on_fail=None):
        body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                           "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}).encode()
        self.out = (f"POST /v1/completions HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        self.on_token, self.on_done, self.on_fail = on_token, on_done, on_fail
        self.raw = b""          # bytes received, not yet parsed
        self.lines = b""        # decoded body bytes, not yet split into lines
        self.head = None        # status code once the headers are in
        self.chunked = False
        self.chunk_left = 0     # body bytes of the current chunk still to come (chunked)
        self.ttft, self.times, self.usage, self.timings = None, [], None, None
        self.finished = False
        self.t0 = time.perf_counter()
        self.sock = socket.create_connection((u.hostname, u.port), timeout=a.timeout)
        self.sock.setblocking(False)
        sel.register(self.sock, selectors.EVENT_WRITE, self)

    def writable(self):
        n = self.sock.send(self.out)
        self.out = self.out[n:]
        if not self.out:
            sel.modify(self.sock, selectors.EVENT_READ, self)

    def readable(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError(f"HTTP {self.head}: {self.raw[:200]!r}" if self.head != 200
                               else "the server closed the stream before data: [DONE]")
        self.raw += data
        if self.head is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            header, self.raw = self.raw[:end].decode("latin-1"), self.raw[end + 4:]
            self.head = int(header.split(" ", 2)[1])
            self.chunked = "transfer-encoding: chunked" in header.lower()
            length = re.search(r"(?im)^content-length:\s*(\d+)", header)
            self.length = int(length.group(1)) if length else None
        if self.head != 200:
            # An error: reported once its body is in (or when the server closes).
            if self.length is not None and len(self.raw) >= self.length:
                raise RuntimeError(f"HTTP {self.head}: {self.raw[:200]!r}")
            return
        if self.chunked:
            while self.raw:
                if self.chunk_left == 0:
                    nl = self.raw.find(b"\r\n")
                    if nl < 0:
                        break
                    size = int(self.raw[:nl].split(b";")[0], 16) if self.raw[:nl] else -1
                    if size == -1:  # the CRLF after a chunk's data
                        self.raw = self.raw[nl + 2:]
                        continue
                    self.raw = self.raw[nl + 2:]
                    if size == 0:
                        self.raw = b""
                        break
                    self.chunk_left = size
                take = self.raw[:self.chunk_left]
                self.raw = self.raw[len(take):]
                self.chunk_left -= len(take)
                self.lines += take
        else:
            self.lines += self.raw
            self.raw = b""
        while not self.finished:
            nl = self.lines.find(b"\n")
            if nl < 0:
                break
            line, self.lines = self.lines[:nl].strip(), self.lines[nl + 1:]
            if line.startswith(b"data: "):
                self.event(line[6:])

    def event(self, data):
        if data == b"[DONE]":
            self.finished = True
            self.close()
            self.on_done(self)
            return
        now = time.perf_counter()
        # Decode only what can matter: the first token's chunk (it has the TTFT, and an
        # error would show), and the last ones (usage, timings).
        if self.ttft is None or b'"usage"' in data or b'"timings"' in data:
            chunk = json.loads(data)
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            if chunk.get("timings"):
                self.timings = chunk["timings"]
            text = any(c.get("text") for c in chunk.get("choices", []))
        else:
            text = b'"text"' in data and not EMPTY_TEXT.search(data)
        if text:
            if self.ttft is None:
                self.ttft = now - self.t0
            self.times.append(now)
            if self.on_token:
                self.on_token(now)

    def close(self):
        if self in live:
            live.discard(self)
            sel.unregister(self.sock)
            self.sock.close()

    @property
    def tokens(self):
        return self.usage["completion_tokens"] if self.usage else len(self.times)


sel = selectors.DefaultSelector()
ttfts, errors, total_tokens, server_gaps = [], [], [0], []
arrivals = []  # (time, client) for the gap measurement
live = set()   # streams whose connection is open
long_run = {}


def start_client(i, k):
    """Client i's request k; the next one starts when it ends (done or failed)."""
    if k >= a.requests:
        return

    def done(s):
        ttfts.append(s.ttft if s.ttft is not None else time.perf_counter() - s.t0)
        total_tokens[0] += s.tokens
        # The server's own longest wait between this stream's tokens (SwiftLlama's timings).
        gap_ms = (s.timings or {}).get("max_token_gap_ms")
        if gap_ms is not None:
            server_gaps.append(gap_ms / 1000)
        start_client(i, k + 1)

    def failed(e):
        errors.append(repr(e))
        start_client(i, k + 1)
    try:
        live.add(Stream(PROMPTS[(i + k) % len(PROMPTS)], a.max_tokens,
                        on_token=(lambda t: arrivals.append((t, i))) if a.long_prompt else None,
                        on_done=done, on_fail=failed))
    except Exception as e:
        failed(e)


def start_long():
    """Once the streams run, a long prompt (max_tokens 1): the gaps between consecutive tokens
    of the running streams before and while it is read."""
    long_run["sent"] = time.perf_counter()

    def done(s):
        long_run.update(done=time.perf_counter(), ttft=s.ttft,
                        prompt_tokens=s.usage.get("prompt_tokens") if s.usage else None)

    def failed(e):
        errors.append("long prompt: " + repr(e))
    try:
        live.add(Stream("the " * a.long_prompt, 1, on_done=done, on_fail=failed))
    except Exception as e:
        failed(e)


cpu_start = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
for i in range(a.clients):
    start_client(i, 0)
limit = a.timeout * max(1, a.requests)
while live or (a.long_prompt and "sent" not in long_run):
    now = time.perf_counter()
    if a.long_prompt and "sent" not in long_run and now - start >= 1.0:
        start_long()
        continue
    if now - start > limit:
        errors.append(f"timeout: {len(live)} streams still open after {limit:.0f} s")
        for s in list(live):
            s.close()
        break
    wait = 1.0 - (now - start) if a.long_prompt and "sent" not in long_run else 1.0
    for key, mask in sel.select(max(0.0, wait)):
        s = key.data
        try:
            if mask & selectors.EVENT_WRITE:
                s.writable()
            else:
                s.readable()
        except Exception as e:  # counted and reported; the client goes on with its next request
            s.close()
            s.on_fail(e)
wall = time.perf_counter() - start
cpu_end = resource.getrusage(resource.RUSAGE_SELF)
# The clients share the cores with the server: their own CPU time is part of the picture.
client_cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


out = {"clients": a.clients, "requests": a.clients * a.requests, "max_tokens": a.max_tokens,
       "ttft_p50_s": pct(ttfts, 50), "ttft_p99_s": pct(ttfts, 99), "generated_tokens": total_tokens[0],
       "wall_s": round(wall, 3), "tokens_per_s": round(total_tokens[0] / wall, 2),
       "client_cpu_s": round(client_cpu, 3), "errors": len(errors), "error_samples": errors[:3]}
if "done" in long_run:
    gaps_before, gaps_during = [], []
    last = {}
    for t, i in sorted(arrivals):
        if i in last:
            gap = t - last[i]
            if t < long_run["sent"]:
                gaps_before.append(gap)
            elif t <= long_run["done"] + 0.05:
                gaps_during.append(gap)
        last[i] = t
    out["long_prompt"] = {"words": a.long_prompt, "ttft_s": round(long_run["ttft"], 4) if long_run["ttft"] is not None else None,
                          "prompt_tokens": long_run["prompt_tokens"],
                          "gap_median_before_s": statistics.median(gaps_before) if gaps_before else None,
                          "gap_max_during_s": max(gaps_during) if gaps_during else None,
                          "server_gap_max_s": max(server_gaps) if server_gaps else None}
print(json.dumps(out))
