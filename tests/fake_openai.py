"""A loopback OpenAI-compatible chat-completions server for tests.

Each model name has a script: a list of steps served one per request, the last one
repeating. A step is one of
    {"answer": {...}}      a valid-looking answer (a tool call to the output tool when the
                           request offers tools, else JSON text)
    {"raw": "..."}         these exact characters as the answer (e.g. broken JSON)
    {"status": 500}        an HTTP error with an OpenAI-style error body
A step may add {"delay": seconds} to answer late.
Every request is recorded (path, model, Authorization header, body) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.loopback import JsonHandler, Loopback


@dataclass
class Recorded:
    path: str
    model: str
    authorization: str
    body: dict[str, Any]


@dataclass
class FakeOpenAI(Loopback):
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, model: str, *steps: dict[str, Any]) -> None:
        with self._lock:
            self.scripts[model] = list(steps)

    def requests_for(self, model: str) -> list[Recorded]:
        return [r for r in self.requests if r.model == model]

    def _next_step(self, model: str) -> dict[str, Any]:
        with self._lock:
            steps = self.scripts.get(model)
            if not steps:
                return {"status": 404, "message": f"The model `{model}` does not exist"}
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model = body.get("model", "")
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.path, model, self.headers.get("Authorization", ""), body)
                    )
                step = fake._next_step(model)
                if step.get("delay"):
                    time.sleep(step["delay"])  # a slow vendor, not a test synchronisation
                if "status" in step:
                    payload = {"error": {"message": step.get("message", "boom"), "type": "server_error"}}
                    self._json(step["status"], payload)
                    return
                content = step["raw"] if "raw" in step else json.dumps(step["answer"])
                self._json(200, _completion(body, model, content))

        self._listen(Handler)
        return self


def _completion(request: dict[str, Any], model: str, content: str) -> dict[str, Any]:
    tools = request.get("tools") or []
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if tools:
        message["tool_calls"] = [
            {
                "id": f"call_{len(content)}",
                "type": "function",
                "function": {"name": tools[0]["function"]["name"], "arguments": content},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = content
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }
