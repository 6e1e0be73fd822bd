"""A loopback OpenAI-compatible vendor that behaves like a real model where the gateway
depends on it: it answers a `json_schema` format with JSON that matches the schema
(patterns, lengths, enums, bounds), calls a tool with arguments that match its
`parameters` when one is forced or exactly one is bound, streams server-sent events
when asked (with a usage chunk for `stream_options.include_usage`), and counts usage
from the request (prompt tokens from the size of what was sent, output from what it
answers), optionally reporting cached and reasoning tokens.

Per vendor model name a script of steps, one per request, the last repeating:
    {"auto": True}              the schema-honouring answer described above (default)
    {"text": "..."}             this text as the content
    {"report": n}               a report of n words (one token each), cut at the request's
                                max_tokens / max_completion_tokens (finish_reason "length");
                                a request that binds one tool gets the "auto" tool call
    {"raw": "..."}              these characters as the content (e.g. broken JSON)
    {"tool": name, "arguments": "..."}   a call to `name` with these exact arguments
    {"status": 500}             an HTTP error with an OpenAI error body ("message" optional)
    {"hang_up": True}           the answer's headers and half its body, then the connection closed
    {"delay": seconds}          may be added to any step
Every request is recorded (path, headers, body).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import rstr

from tests.loopback import JsonHandler, Loopback


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    size: int = 0  # bytes of the body as received

    @property
    def prompt_tokens(self) -> int:
        """What this vendor bills as prompt tokens for the request."""
        return math.ceil(self.size / 4)

    @property
    def model(self) -> str:
        return self.body.get("model", "")


@dataclass
class FakeChat(Loopback):
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    cached_tokens: int = 0  # reported as prompt_tokens_details.cached_tokens
    reasoning_tokens: int = 0
    # Count usage as OpenAI counts gpt-4o's (agents_llm.metering.tokens), not by size.
    count_like_openai: bool = False
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, model: str, *steps: dict[str, Any]) -> None:
        with self._lock:
            self.scripts[model] = list(steps)

    def seen(self, model: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if model is None or r.model == model]

    def _step(self, model: str) -> dict[str, Any]:
        with self._lock:
            steps = self.scripts.get(model) or [{"auto": True}]
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def start(self) -> FakeChat:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                with fake._lock:
                    fake.requests.append(Seen(self.path, dict(self.headers), body, len(raw)))
                step = fake._step(body.get("model", ""))
                if step.get("delay"):
                    time.sleep(step["delay"])  # a slow vendor
                if "status" in step:
                    error = {"message": step.get("message", "upstream failure"), "type": "server_error", "code": None}
                    self._json(step["status"], {"error": error})
                    return
                message, finish = fake.answer(body, step)
                usage = fake.usage(raw, message)
                if body.get("stream"):
                    self._stream(body, message, finish, usage)
                else:
                    answer = {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model"), "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": usage,
                    }
                    if step.get("hang_up"):
                        self._hang_up(json.dumps(answer).encode())
                    else:
                        self._json(200, answer)

            def _hang_up(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True

            def _stream(self, body: dict[str, Any], message: dict[str, Any], finish: str, usage: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model")}
                frames = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
                content = message.get("content") or ""
                for start in range(0, len(content), 7):
                    frames.append({**base, "choices": [{"index": 0, "delta": {"content": content[start:start + 7]}, "finish_reason": None}]})
                for index, call in enumerate(message.get("tool_calls") or []):
                    frames.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, **call}]}, "finish_reason": None}]})
                frames.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    frames.append({**base, "choices": [], "usage": usage})
                for frame in frames:
                    self.wfile.write(b"data: " + json.dumps(frame).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._listen(Handler)
        return self

    # What a real model would answer --------------------------------------------------

    def answer(self, body: dict[str, Any], step: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if "tool" in step:
            return _call(step["tool"], step["arguments"]), "tool_calls"
        if "raw" in step:
            return {"role": "assistant", "content": step["raw"]}, "stop"
        if "text" in step:
            return {"role": "assistant", "content": step["text"]}, "stop"
        if "report" in step and not _one_tool(body):  # a structured role's one tool is called as in "auto"
            cap = body.get("max_completion_tokens") or body.get("max_tokens") or step["report"]
            words = min(step["report"], cap)
            return {"role": "assistant", "content": " ".join(["buy"] * words)}, "length" if words < step["report"] else "stop"
        tools = {t["function"]["name"]: t["function"].get("parameters", {}) for t in body.get("tools") or []}
        choice = body.get("tool_choice")
        forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        name = forced or (next(iter(tools)) if len(tools) == 1 and choice != "none" else None)
        if name:
            return _call(name, json.dumps(instance(tools[name]))), "tool_calls"
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return {"role": "assistant", "content": json.dumps(instance(fmt["json_schema"]["schema"]))}, "stop"
        if fmt.get("type") == "json_object":
            return {"role": "assistant", "content": json.dumps({"answer": "ok"})}, "stop"
        return {"role": "assistant", "content": "A plain answer from the fake vendor."}, "stop"

    def usage(self, raw: bytes, message: dict[str, Any]) -> dict[str, Any]:
        if self.count_like_openai:
            return self._openai_usage(json.loads(raw), message)
        prompt = math.ceil(len(raw) / 4)
        answered = (message.get("content") or "") + json.dumps(message.get("tool_calls") or "")
        if answered.startswith("buy buy") and not message.get("tool_calls"):  # a report: a token a word
            completion = len(answered.split()) + self.reasoning_tokens
        else:
            completion = max(1, math.ceil(len(answered) / 4)) + self.reasoning_tokens
        return {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


    def _openai_usage(self, body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        from agents_llm.metering import tokens

        prompt = tokens.count_prompt("openai", "gpt-4o", body).tokens
        completion = tokens.count_text(message.get("content") or "") + sum(
            tokens.count_text(call["function"]["name"] + call["function"]["arguments"]) + 3
            for call in message.get("tool_calls") or []
        )
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _one_tool(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    return isinstance(body.get("tool_choice"), dict) or (len(tools) == 1 and body.get("tool_choice") != "none")


def _call(name: str, arguments: str) -> dict[str, Any]:
    return {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_fake1", "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def instance(schema: dict[str, Any], rng: random.Random | None = None) -> Any:
    """A value matching `schema` (the subset models are asked for), written
    independently of the product's own example builder."""
    rng = rng or random.Random(7)
    if "$ref" in schema:
        raise ValueError("refs are not used by these tests")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return instance(schema[key][0], rng)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object" or "properties" in schema:
        return {name: instance(sub, rng) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [instance(schema.get("items", {"type": "string"}), rng) for _ in range(schema.get("minItems", 1))]
    if kind == "integer":
        low = schema.get("minimum", 0)
        return max(low, min(schema.get("maximum", low + 10), low + 3))
    if kind == "number":
        low = schema.get("minimum", 0.0)
        high = schema.get("maximum", low + 1.0)
        return (low + high) / 2
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        for _ in range(200):
            text = rstr.Rstr(rng).xeger(schema["pattern"])
            if len(text) >= low and (high is None or len(text) <= high):
                return text
        raise ValueError(f"cannot satisfy {schema}")
    text = "fake answer text"
    text = text + "x" * max(0, low - len(text))
    return text[:high] if high is not None else text
