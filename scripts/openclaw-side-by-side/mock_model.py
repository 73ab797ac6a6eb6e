#!/usr/bin/env python3
"""Mock OpenAI-compatible model for the real OpenClaw gateway (docs/openclaw-protocol.md, appendix B).

`python3 mock_model.py PORT` serves POST /v1/chat/completions. With `stream: true` it answers
SSE `chat.completion.chunk`s, one word per chunk (1 s apart when the text contains `slow`,
else 50 ms), then a `finish_reason: "stop"` chunk with `usage` and `data: [DONE]`; without
`stream` one `chat.completion`. The reply echoes the user's text: the last `user` message whose
text lacks OpenClaw's internal-context marker, with the leading `[<date>] ` and the trailing
`\\n\\nRuntime: ...` that OpenClaw wraps around the prompt removed. GET /v1/models lists
`echo-model`. No network beyond the loopback socket.
"""
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def user_text(messages):
    for m in reversed(messages or []):
        if m.get("role") != "user":
            continue
        t = text_of(m.get("content"))
        if MARKER in t:
            continue
        t = re.sub(r"^\[[^\]]*\]\s*", "", t)
        t = t.split("\n\nRuntime:")[0]
        return t.strip()
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("mock: " + (fmt % args) + "\n")

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "echo-model", "object": "model", "owned_by": "mock"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "bad json"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        text = user_text(req.get("messages")) or "(empty)"
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        model = req.get("model", "echo-model")
        created = int(time.time())
        usage = {"prompt_tokens": len(words), "completion_tokens": len(words), "total_tokens": 2 * len(words)}
        if not req.get("stream"):
            self._json(200, {"id": "chatcmpl-mock", "object": "chat.completion", "created": created, "model": model,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        delay = 1.0 if "slow" in text else 0.05

        def chunk(delta, finish=None, with_usage=False):
            obj = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if with_usage:
                obj["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        try:
            for i, p in enumerate(pieces):
                if i:
                    time.sleep(delay)
                chunk({"role": "assistant", "content": p} if i == 0 else {"content": p})
            chunk({}, "stop", True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18799
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
