"""A loopback server speaking Anthropic's Messages API (`POST /v1/messages`), enough for
PydanticAI's AnthropicModel: text, or a `tool_use` block whose input matches the tool's
`input_schema` when the request forces a tool or binds exactly one; usage counted from
the request, with configurable cache read/creation tokens."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from tests.fake_chat import instance
from tests.loopback import JsonHandler, Loopback


@dataclass
class FakeAnthropic(Loopback):
    cache_read: int = 0
    cache_write: int = 0
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                fake.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "size": len(raw)})
                if fake.status != 200:
                    self._json(fake.status, {"type": "error", "error": {"type": "api_error", "message": "overloaded"}})
                    return
                tools = {t["name"]: t.get("input_schema", {}) for t in body.get("tools") or []}
                choice = body.get("tool_choice") or {}
                name = choice.get("name") if choice.get("type") == "tool" else None
                if name is None and len(tools) == 1 and choice.get("type") in ("any", "tool", None, "auto"):
                    name = next(iter(tools))
                if name:
                    content = [{"type": "tool_use", "id": "toolu_fake1", "name": name, "input": instance(tools[name])}]
                    stop = "tool_use"
                else:
                    content = [{"type": "text", "text": "An answer from the fake Anthropic."}]
                    stop = "end_turn"
                fresh = math.ceil(len(raw) / 4)
                out = max(1, math.ceil(len(json.dumps(content)) / 4))
                usage = {"input_tokens": fresh, "output_tokens": out,
                         "cache_read_input_tokens": fake.cache_read, "cache_creation_input_tokens": fake.cache_write}
                message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                           "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
                if body.get("stream"):
                    self._stream(message)
                else:
                    self._json(200, message)

            def _stream(self, message: dict[str, Any]) -> None:
                """Anthropic's event stream for `message` (PydanticAI streams even a plain request)."""
                usage = message["usage"]
                start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
                events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
                for index, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                               "content_block": {"type": "text", "text": ""}}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                               "delta": {"type": "text_delta", "text": block["text"]}}))
                    else:
                        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                               "content_block": {**block, "input": {}}}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                            "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
                    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
                events.append(("message_delta", {"type": "message_delta",
                                                 "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                                 "usage": {"output_tokens": usage["output_tokens"]}}))
                events.append(("message_stop", {"type": "message_stop"}))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        self._listen(Handler)
        return self
