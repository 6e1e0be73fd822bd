"""A loopback HTTP server speaking just enough of the vendors' protocols for the
validation probe: OpenAI-style `GET …/models`, Anthropic `GET /v1/models`, Google
`GET /v1beta/models`, OpenRouter `GET …/key`, and `POST …/chat/completions`.

Answers are scripted: `script` is a list of steps used one per request (the last one
repeats). A step is an HTTP status, or "hang" (answer after `hang_seconds`, longer
than the probe's timeout). Every request is recorded with its path and headers.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ["gpt-4o-mini", "gpt-4o", "o3-mini"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeVendor:
    script: list[int | str] = field(default_factory=lambda: [200])
    hang_seconds: float = 2.0
    models: list[str] = field(default_factory=lambda: list(MODELS))
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeVendor:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                vendor._answer(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                vendor._answer(self, json.loads(raw or b"null"))

        # Port 0: the kernel picks a free port, bound here before anyone else can take it.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeVendor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _next_step(self) -> int | str:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _answer(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(Request(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body))
        step = self._next_step()
        if step == "hang":
            time.sleep(self.hang_seconds)
            step = 200
        status = int(step)
        if status != 200:
            payload: Any = {"error": {"message": f"scripted {status}", "type": "fake"}}
        elif path.endswith("/chat/completions"):
            payload = {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": (body or {}).get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "p"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        elif path.endswith("/v1beta/models"):
            payload = {"models": [{"name": f"models/{m}"} for m in self.models]}
        elif path.endswith("/key"):
            payload = {"data": {"label": "fake", "usage": 0, "limit": None}}
        else:
            payload = {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timeout) before we answered
            pass
