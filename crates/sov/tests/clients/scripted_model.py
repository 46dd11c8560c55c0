#!/usr/bin/env python3
"""A scripted model: an OpenAI-compatible chat-completions server on 127.0.0.1 that answers each
request with the next reply of a script, so a test can drive an agent through an exact sequence
of tool calls. It stands in for a model only where the test is about the agent, not the model.

    scripted_model.py SCRIPT.json LOG.jsonl

SCRIPT.json is a list of replies, each {"content": "text"} or {"tool_calls": [{"name": N,
"arguments": {...}}, ...]}; a request without an assistant turn (a new session) starts the
script over. Every request body is appended to LOG.jsonl. Prints the port it
listens on, then serves until killed. Streams (SSE, in pieces, as real servers do) when asked.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

script = json.load(open(sys.argv[1]))
log_path = sys.argv[2]
lock = threading.Lock()
calls = [0]


def next_reply(body):
    with lock:
        # A conversation without an assistant turn is a new session: the script starts over,
        # so one server can answer many runs (the benchmark) the same way.
        if not any(m.get("role") == "assistant" for m in body.get("messages", [])):
            calls[0] = 0
        i = calls[0]
        calls[0] += 1
    if i < len(script):
        return i, script[i]
    return i, {"content": "script exhausted"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/v1/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "context_length": 8192}]})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        with lock:
            with open(log_path, "a") as log:
                log.write(json.dumps(body) + "\n")
        if not self.path.startswith("/v1/chat/completions"):
            self.send_json(404, {"error": {"message": "not found"}})
            return
        i, reply = next_reply(body)
        calls_out = [
            {"id": f"call_{i}_{n}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
            for n, c in enumerate(reply.get("tool_calls", []))
        ]
        content = reply.get("content", "")
        finish = "tool_calls" if calls_out else "stop"
        usage = {"prompt_tokens": len(json.dumps(body)) // 4, "completion_tokens": 5, "total_tokens": 0}
        if not body.get("stream"):
            message = {"role": "assistant", "content": content or None}
            if calls_out:
                message["tool_calls"] = calls_out
            self.send_json(200, {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "scripted",
                                 "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                 "usage": usage})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()

        def event(delta, finish_reason=None, usage=None):
            chunk = {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "model": "scripted",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if usage is not None:
                chunk = {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "model": "scripted",
                         "choices": [], "usage": usage}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        event({"role": "assistant", "content": ""})
        half = len(content) // 2
        for piece in (content[:half], content[half:]):
            if piece:
                event({"content": piece})
        for n, call in enumerate(calls_out):
            args = call["function"]["arguments"]
            cut = len(args) // 2
            event({"tool_calls": [{"index": n, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": args[:cut]}}]})
            event({"tool_calls": [{"index": n, "function": {"arguments": args[cut:]}}]})
        event({}, finish_reason=finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            event(None, usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
