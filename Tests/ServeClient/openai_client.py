"""Drives `llama serve` with the real `openai` Python package (and raw HTTP for what the
client cannot send). Used by Tests/LlamaTests/ServeTests.swift: each mode prints one JSON
object on stdout, which the Swift test checks.

    python openai_client.py BASE_URL MODE [JSON_ARGUMENTS]
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

import openai

base, mode = sys.argv[1], sys.argv[2]
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
api_key = args.pop("_api_key", "none")
client = openai.OpenAI(base_url=base + "/v1", api_key=api_key, max_retries=0, timeout=120)


def out(value):
    print(json.dumps(value))
    sys.stdout.flush()


EXTRA = ("ignore_eos", "top_k", "min_p", "repeat_penalty")  # llama-server's fields, not OpenAI's


def extra(kwargs):
    """Moves the non-OpenAI fields into extra_body, as a client sends them."""
    body = {k: kwargs.pop(k) for k in list(kwargs) if k in EXTRA}
    if body:
        kwargs["extra_body"] = body
    return kwargs


def completion(kind, kwargs, announce=False):
    """One request; streamed or not, returns text, finish_reason, usage, chunk count.
    announce: print "streaming" as soon as the first chunk arrives (the caller acts on it)."""
    kwargs = extra(kwargs)
    create = client.chat.completions.create if kind == "chat" else client.completions.create
    if kwargs.get("stream"):
        text, finish, usage, chunks, logprobs = "", None, None, 0, []
        for chunk in create(**kwargs):
            if announce and chunks == 0:
                print("streaming", flush=True)
            chunks += 1
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            for choice in chunk.choices:
                if kind == "chat":
                    text += choice.delta.content or ""
                    if choice.logprobs and choice.logprobs.content:
                        logprobs += [c.model_dump() for c in choice.logprobs.content]
                else:
                    text += choice.text or ""
                if choice.finish_reason is not None:
                    finish = choice.finish_reason
        return {"text": text, "finish_reason": finish, "usage": usage, "chunks": chunks, "logprobs": logprobs}
    r = create(**kwargs)
    choice = r.choices[0]
    text = choice.message.content if kind == "chat" else choice.text
    lp = [c.model_dump() for c in choice.logprobs.content] if kind == "chat" and choice.logprobs else []
    return {"text": text, "finish_reason": choice.finish_reason, "usage": r.usage.model_dump(), "model": r.model,
            "object": r.object, "logprobs": lp}


if mode in ("chat", "complete"):
    out(completion(mode, args))
elif mode == "complete-announced":
    out(completion("complete", args, announce=True))
elif mode == "error":
    # The request must fail: report the status, the error body and Retry-After.
    kind = args.pop("_kind", "complete")
    try:
        completion(kind, args)
        out({"status": 200})
    except openai.APIStatusError as e:
        out({"status": e.status_code, "body": e.body, "retry_after": e.response.headers.get("retry-after")})
elif mode == "models":
    out({"ids": [m.id for m in client.models.list().data]})
elif mode == "concurrent":
    # Several clients at once (one thread each), each with its own request.
    requests = args["requests"]
    results = [None] * len(requests)

    def run(i):
        try:
            results[i] = completion(args.get("kind", "complete"), requests[i])
        except Exception as e:  # reported, then checked by the test
            results[i] = {"error": repr(e)}

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out({"results": results})
elif mode == "multiturn":
    # A chat of several turns, each sending the whole conversation so far.
    messages = [{"role": "system", "content": args.get("system", "You are a test.")}]
    turns = []
    for i in range(args["turns"]):
        messages.append({"role": "user", "content": f"Turn {i}: tell me something about the number {i}."})
        r = client.chat.completions.create(model="m", messages=messages, max_tokens=args.get("max_tokens", 8),
                                           temperature=0)
        reply = r.choices[0].message.content
        messages.append({"role": "assistant", "content": reply})
        details = r.usage.prompt_tokens_details
        turns.append({"prompt_tokens": r.usage.prompt_tokens,
                      "cached_tokens": details.cached_tokens if details else None})
    out({"turns": turns})
elif mode == "stream-until-killed":
    # Streams a long completion, says so after the first chunk, and keeps reading until killed.
    stream = client.completions.create(stream=True, **extra(args))
    for i, chunk in enumerate(stream):
        if i == 0:
            print("streaming", flush=True)
elif mode == "complete-until-killed":
    # A long non-streaming completion: nothing arrives until it is done, so the test kills
    # this process while the server generates (it watches /health for the busy slot).
    print("requesting", flush=True)
    client.completions.create(**extra(args))
    out({"finished": True})
elif mode == "raw":
    # A request the openai client would not send: method, path, body (text), headers.
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    body = args.get("body")
    if "body_repeat" in args:
        body = args["body_repeat"][0] * args["body_repeat"][1]
    conn.request(args["method"], args["path"], body=body.encode() if body is not None else None,
                 headers=args.get("headers", {"Content-Type": "application/json"}))
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    out({"status": r.status, "json": parsed, "text": data if parsed is None else None,
         "retry_after": r.getheader("Retry-After"), "content_type": r.getheader("Content-Type")})
elif mode == "slow":
    # Sends a request a few bytes at a time, while the test sends others.
    import socket
    u = urllib.parse.urlparse(base)
    body = json.dumps(args["request"]).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    s = socket.create_connection((u.hostname, u.port), timeout=300)
    data = head + body
    step = args.get("step", 1)
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
        time.sleep(args.get("delay", 0.01))
    reply = b""
    while True:
        part = s.recv(65536)
        if not part:
            break
        reply += part
    status = int(reply.split(b" ", 2)[1])
    out({"status": status, "body": reply.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")})
else:
    sys.exit(f"unknown mode {mode}")
