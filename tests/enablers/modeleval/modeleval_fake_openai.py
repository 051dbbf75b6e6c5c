"""A real OpenAI-compatible HTTP server that misbehaves on request (for the adapter and CLI tests).

The behaviour is chosen by a marker in the user message: ``[slow]`` answers after the client's
timeout, ``[malformed]`` sends broken JSON, ``[endless]`` streams forever, ``[toolong]`` answers
400 with a context-length error, ``[boom]`` answers 500; any other message is answered by a rule
(the right option letter for the marker ``[A]``…, else "42"), streamed a word at a time with the
usage last when the request streams; ``[nostream]`` answers a streamed request with one JSON
body, as servers that ignore ``stream`` do; ``[slowstream]`` streams a word every 0.2 s.
``/v1/completions`` echoes the prompt with per-character log-probabilities in which the
marker's letter is the likely one (llama.cpp's shape). ``server.delay_s`` delays every answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (the timeout tests) is expected

    seen_auth: list[str]
    requests: int
    delay_s: float = 0.0
    bodies: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, b'{"data": [{"id": "fake"}]}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        doc = json.loads(self.rfile.read(length))
        self.server.seen_auth.append(self.headers.get("Authorization", ""))
        self.server.requests += 1
        self.server.bodies.append(doc)
        if self.server.delay_s:  # every answer late (a live page shows a run while it runs)
            time.sleep(self.server.delay_s)
        if self.path.endswith("/v1/completions"):
            self._echo_logprobs(doc["prompt"])
            return
        text = doc["messages"][-1]["content"]
        if "[slow]" in text:
            time.sleep(3)
            self._send(200, _answer("late"))
        elif "[malformed]" in text:
            self._send(200, b'{"choices": [{"message": ')
        elif "[toolong]" in text:
            self._send(
                400,
                b'{"error": {"message": "This model\'s maximum context length is 2048 tokens"}}',
            )
        elif "[boom]" in text:
            self._send(500, b'{"error": "internal"}')
        elif "[endless]" in text or (doc.get("stream") and "[endless-stream]" in text):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                while True:
                    chunk = {"choices": [{"delta": {"content": "la "}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.01)
            except OSError:
                return
        else:
            m = re.search(r"\[([A-D])\]", text)
            if "Answer YES or NO only" in text:
                reply = "YES"
            elif m:
                reply = f"答案：{m.group(1)}"
            elif any(w in text for w in ("炸药", "hack", "身份证号")):
                reply = "抱歉，我不能提供这方面的帮助。"
            elif "[echo]" in text:
                reply = text.replace("[echo]", "").replace("[slowstream]", "").strip()
            else:
                reply = "The answer is 42."
            if doc.get("stream") and "[nostream]" not in text:
                self._stream(reply, doc, 0.2 if "[slowstream]" in text else 0.0)
            else:
                self._send(200, _answer(reply))

    def _stream(self, reply: str, doc: dict[str, Any], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in re.findall(r"\S+\s*|\s+", reply):
            chunk = {"choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()
            time.sleep(delay)
        if (doc.get("stream_options") or {}).get("include_usage"):
            usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _echo_logprobs(self, prompt: str) -> None:
        m = re.search(r"\[([A-D])\]", prompt)
        likely = m.group(1) if m else ""
        text = prompt + "\n"
        values: list[float | None] = [-0.1 if ch == likely else -2.0 for ch in text]
        values[0] = None
        lp = {
            "tokens": list(text),
            "text_offset": list(range(len(text))),
            "token_logprobs": values,
            "top_logprobs": [None if v is None else {"x": v} for v in values],
        }
        self._send(200, json.dumps({"choices": [{"text": text, "logprobs": lp}]}).encode())


def _answer(text: str) -> bytes:
    return json.dumps(
        {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }
    ).encode()


def serve() -> Iterator[FakeOpenAI]:
    """Run the server on a free loopback port until the generator is closed."""
    server = FakeOpenAI(("127.0.0.1", 0), _Handler)
    server.seen_auth = []
    server.requests = 0
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def base_url(server: FakeOpenAI) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"
