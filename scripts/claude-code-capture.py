#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic API that records what Claude Code sends.

Listens on 127.0.0.1:PORT and writes one JSON object per request to LOG (JSON Lines):
sequence number, time, method, path, headers (x-api-key, authorization, cookie and
proxy-authorization values replaced by "<redacted>"), the JSON body (or the raw text if it is not
JSON) and what the script answered.

Answers, in the Anthropic Messages format (an SSE stream when the request has "stream": true,
otherwise one JSON message):
  * the first /v1/messages request that offers tools and has no tool_result yet gets a tool_use
    block: Read on --file (an absolute path; default: notes.txt in --workdir), or with
    --tool bash, Bash running `echo hi`;
  * a request whose messages contain a tool_result block gets a final text answer;
  * any other /v1/messages request (title/summary/quota requests, small-model calls) gets a short
    text answer;
  * /v1/messages/count_tokens gets {"input_tokens": N} (a rough estimate);
  * anything else is logged and answered 404.

Standard library only. Usage:
  claude-code-capture.py --port 8787 --log capture.jsonl --workdir /path/seen/by/claude
Prints "listening on http://127.0.0.1:PORT" once ready.

  claude-code-capture.py extract capture.jsonl OUT_DIR SEQ=NAME... [--workdir DIR] [--trim N]
writes the body of request SEQ as OUT_DIR/NAME.json, with DIR (the working directory of the
recording) replaced by /home/user/project everywhere and every string longer than N characters
(default 1200) cut to N followed by "[... K characters trimmed]"; and OUT_DIR/headers.json with
the method, path and (already redacted) headers of each. Anything else in the bodies is kept as
recorded.
"""

import argparse
import gzip
import json
import os
import secrets
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SECRET_HEADERS = {"x-api-key", "authorization", "proxy-authorization", "cookie"}

SHORT_TEXT = "Capture reply."


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.tool_use_given = False
        self.log = open(args.log, "a", encoding="utf-8")

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def write(self, record):
        with self.lock:
            self.log.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.log.flush()

    def claim_tool_use(self):
        """True exactly once: for the first request that should get the tool_use."""
        with self.lock:
            if self.tool_use_given:
                return False
            self.tool_use_given = True
            return True


def redacted_headers(headers):
    out = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = "<redacted>" if key in SECRET_HEADERS else value
    return out


def has_block(messages, kind):
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == kind:
                    return True
    return False


def last_tool_result_text(messages):
    """The text of the last tool_result block (its content is a string or a list of blocks)."""
    text = ""
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "".join(b.get("text", "") for b in inner if isinstance(b, dict))
                text = inner if isinstance(inner, str) else ""
    return text


def rough_tokens(body):
    return max(1, len(json.dumps(body)) // 4)


def new_id(prefix):
    return prefix + secrets.token_hex(12)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "claude-code-capture/1"
    state = None  # set in main()

    def log_message(self, fmt, *args):  # quiet: the JSONL file is the log
        if self.state.args.verbose:
            sys.stderr.write("capture: " + (fmt % args) + "\n")

    # ---- plumbing -------------------------------------------------------------------------------

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("content-encoding") or "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        return raw

    def record(self, body, answer):
        seq = self.next_seq_value
        record = {
            "seq": seq,
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": redacted_headers(self.headers),
            "answer": answer,
        }
        if body is not None:
            record["body"] = body
        self.state.write(record)

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", new_id("req_"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_sse(self, events):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", new_id("req_"))
        self.end_headers()
        for name, data in events:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def not_found(self, body=None):
        self.record(body, {"status": 404})
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

    # ---- verbs ----------------------------------------------------------------------------------

    def do_HEAD(self):
        self.next_seq_value = self.state.next_seq()
        self.not_found()

    def do_GET(self):
        self.next_seq_value = self.state.next_seq()
        self.not_found()

    def do_DELETE(self):
        self.next_seq_value = self.state.next_seq()
        self.not_found()

    def do_PUT(self):
        self.next_seq_value = self.state.next_seq()
        self.read_body()
        self.not_found()

    def do_POST(self):
        self.next_seq_value = self.state.next_seq()
        raw = self.read_body()
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = {"_raw_text": raw.decode("utf-8", "replace")}
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/v1/messages/count_tokens":
            answer = {"input_tokens": rough_tokens(body)}
            self.record(body, {"status": 200, "kind": "count_tokens"})
            self.send_json(200, answer)
        elif path == "/v1/messages" and isinstance(body, dict):
            self.messages(body)
        else:
            self.not_found(body)

    # ---- /v1/messages ---------------------------------------------------------------------------

    def messages(self, body):
        args = self.state.args
        messages = body.get("messages") or []
        tools = body.get("tools") or []
        if has_block(messages, "tool_result"):
            said = " ".join(last_tool_result_text(messages).split())[:200]
            kind, blocks = "final_text", [{"type": "text", "text": f"The tool said: {said}"}]
        elif tools and self.state.claim_tool_use():
            if args.tool == "bash":
                call = {"name": "Bash", "input": {"command": "echo hi", "description": "Print hi"}}
            else:
                call = {"name": "Read", "input": {"file_path": args.file}}
            kind = "tool_use"
            blocks = [{"type": "tool_use", "id": new_id("toolu_"), **call}]
        else:
            kind, blocks = "short_text", [{"type": "text", "text": SHORT_TEXT}]
        stop = "tool_use" if kind == "tool_use" else "end_turn"
        stream = bool(body.get("stream"))
        self.record(body, {"status": 200, "kind": kind, "stream": stream})
        model = body.get("model") or "claude-capture"
        usage = {
            "input_tokens": rough_tokens(body),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 12,
        }
        message_id = new_id("msg_")
        if not stream:
            self.send_json(200, {
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage,
            })
            return
        events = [("message_start", {
            "type": "message_start",
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {**usage, "output_tokens": 1},
            },
        })]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                # Two deltas, as a real stream would split the text.
                half = len(block["text"]) // 2
                deltas = [{"type": "text_delta", "text": block["text"][:half]},
                          {"type": "text_delta", "text": block["text"][half:]}]
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                partial = json.dumps(block["input"])
                half = len(partial) // 2
                deltas = [{"type": "input_json_delta", "partial_json": ""},
                          {"type": "input_json_delta", "partial_json": partial[:half]},
                          {"type": "input_json_delta", "partial_json": partial[half:]}]
            events.append(("content_block_start",
                           {"type": "content_block_start", "index": index, "content_block": start}))
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            for delta in deltas:
                events.append(("content_block_delta",
                               {"type": "content_block_delta", "index": index, "delta": delta}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }))
        events.append(("message_stop", {"type": "message_stop"}))
        self.send_sse(events)


NEUTRAL_WORKDIR = "/home/user/project"


def neutralize(value, replacements, trim):
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        if trim and len(value) > trim:
            value = value[:trim] + f"[... {len(value) - trim} characters trimmed]"
        return value
    if isinstance(value, list):
        return [neutralize(v, replacements, trim) for v in value]
    if isinstance(value, dict):
        return {k: neutralize(v, replacements, trim) for k, v in value.items()}
    return value


def extract(argv):
    parser = argparse.ArgumentParser(prog="claude-code-capture.py extract")
    parser.add_argument("capture")
    parser.add_argument("out_dir")
    parser.add_argument("pairs", nargs="+", metavar="SEQ=NAME")
    parser.add_argument("--workdir", help="the recording's working directory, to neutralize")
    parser.add_argument("--trim", type=int, default=1200)
    args = parser.parse_args(argv)
    with open(args.capture, encoding="utf-8") as f:
        records = {r["seq"]: r for r in map(json.loads, f)}
    replacements = []
    if args.workdir:
        workdir = args.workdir.rstrip("/")
        # Claude Code also names per-project folders after the path with / and . turned into -.
        dashed = workdir.replace("/", "-").replace(".", "-")
        replacements = [(workdir, NEUTRAL_WORKDIR), (dashed, NEUTRAL_WORKDIR.replace("/", "-"))]
    os.makedirs(args.out_dir, exist_ok=True)
    headers_path = os.path.join(args.out_dir, "headers.json")
    headers = {}
    if os.path.exists(headers_path):
        with open(headers_path, encoding="utf-8") as f:
            headers = json.load(f)
    for pair in args.pairs:
        seq, name = pair.split("=", 1)
        record = records[int(seq)]
        body = neutralize(record.get("body"), replacements, args.trim)
        with open(os.path.join(args.out_dir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, ensure_ascii=False)
            f.write("\n")
        headers[name] = {
            "method": record["method"],
            "path": record["path"],
            "headers": neutralize(record["headers"], replacements, 0),
        }
    with open(headers_path, "w", encoding="utf-8") as f:
        json.dump(headers, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "extract":
        extract(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="JSON Lines file to append the requests to")
    parser.add_argument("--workdir", default=os.getcwd(), help="the directory Claude Code runs in")
    parser.add_argument("--file", help="absolute path for the Read call (default: WORKDIR/notes.txt)")
    parser.add_argument("--tool", choices=["read", "bash"], default="read")
    parser.add_argument("--verbose", action="store_true", help="log each request line to stderr")
    args = parser.parse_args()
    if not args.file:
        args.file = os.path.join(args.workdir, "notes.txt")
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
