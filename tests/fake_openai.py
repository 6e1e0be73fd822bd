"""A loopback OpenAI-compatible chat-completions server for tests.

Each model name has a script: a list of steps served one per request, the last one
repeating. A step is one of
    {"answer": {...}}      a valid-looking answer (a tool call to the output tool when the
                           request offers tools, else JSON text)
    {"raw": "..."}         these exact characters as the answer (e.g. broken JSON)
    {"report": n}          n tokens of an analyst's prose (o200k_base), as text; a tool
                           call with {"report": ...} as arguments when the request forces
                           a tool (tool_choice "required" or a named function)
    {"status": 500}        an HTTP error with an OpenAI-style error body
A step may add {"delay": seconds} to answer late.

Usage is a fixed 100 prompt / 20 completion tokens, unless `count_usage=True`: then it is
what OpenAI counts for `usage_model` — the prompt with agents_llm.metering.tokens
(messages, tools, response_format), the completion as the tokens of what it wrote — and
every answer is cut at the request's max_completion_tokens / max_tokens, with
finish_reason "length" ("report" answers are cut in either mode).
`stream: true` is answered with server-sent events, and a last chunk with the usage when
`stream_options.include_usage` is set.
Every request is recorded (path, model, Authorization header, body) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from agents_llm.metering.tokens import count_prompt, count_text, truncate_text
from tests.loopback import JsonHandler, Loopback

FIXED_USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
TOOL_CALL_OVERHEAD = 3  # completion tokens of a tool call beyond its name and arguments

REPORT_SENTENCES = (
    "Revenue grew 14% year over year, driven by data-center demand and higher average selling prices.",
    "Gross margin expanded to 74.6%, although management guided to a modest decline next quarter.",
    "The 50-day moving average crossed above the 200-day average, a constructive technical signal.",
    "Short interest remains low at 1.1% of float, so a squeeze is an unlikely driver of the move.",
    "Insider selling was routine and scheduled under 10b5-1 plans rather than discretionary.",
    "Supply constraints on advanced packaging could cap shipments through the first half of the year.",
    "Valuation at 38 times forward earnings leaves little room for an execution miss.",
    "Sentiment on social media turned more positive after the product keynote, with mentions up 40%.",
    "Competitors are sampling alternative accelerators, but switching costs in software remain high.",
    "We would size the position conservatively and revisit after the next earnings release.",
)


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
    count_usage: bool = False
    usage_model: str = "gpt-4o"  # the OpenAI model whose counting count_usage follows
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
                answer = fake.completion(body, step)
                if body.get("stream"):
                    self._events(_chunks(body, answer))
                else:
                    self._json(200, answer)

        self._listen(Handler)
        return self

    def completion(self, request: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        """The whole answer to `request` for `step`, usage included."""
        cap = request.get("max_completion_tokens") or request.get("max_tokens")
        cap = cap if self.count_usage or "report" in step else None
        forced = _forced_tool(request)
        if "report" in step:
            text = report(int(step["report"]))
            name = forced if forced else None
        else:
            text = step["raw"] if "raw" in step else json.dumps(step["answer"])
            tools = request.get("tools") or []
            name = tools[0]["function"]["name"] if tools else None
        if name is not None and "report" in step:
            text = json.dumps({"report": text})
        counting = cap is not None or self.count_usage
        overhead = count_text(name) + TOOL_CALL_OVERHEAD if name is not None and counting else 0
        finish = "tool_calls" if name is not None else "stop"
        if cap is not None and count_text(text) + overhead > cap:
            text, finish = truncate_text(text, max(cap - overhead, 0)), "length"
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if name is not None:
            message["tool_calls"] = [
                {"id": f"call_{len(text)}", "type": "function", "function": {"name": name, "arguments": text}}
            ]
        else:
            message["content"] = text
        usage = dict(FIXED_USAGE)
        if self.count_usage:
            prompt = count_prompt("openai", self.usage_model, request).tokens
            completion = count_text(text) + overhead
            usage = {
                "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            }
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }


def report(n_tokens: int) -> str:
    """`n_tokens` (o200k_base) of an analyst's prose."""
    sentences: list[str] = []
    while count_text(" ".join(sentences)) < n_tokens:
        sentences.extend(REPORT_SENTENCES)
    return truncate_text(" ".join(sentences), n_tokens)


def _forced_tool(request: dict[str, Any]) -> str | None:
    tools = request.get("tools") or []
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name")
    if choice == "required" and tools:
        return tools[0]["function"]["name"]
    return None


def _chunks(request: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    """`answer` as OpenAI streams it: the role, the content in pieces, the tool calls, the
    finish reason, and the usage alone in a last chunk when the request asked for it."""
    base = {key: answer[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    (choice,) = answer["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    content = message.get("content") or ""
    chunks += [chunk({"content": content[i:i + 16]}) for i in range(0, len(content), 16)]
    for index, call in enumerate(message.get("tool_calls") or []):
        chunks.append(chunk({"tool_calls": [{"index": index, **call}]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": answer["usage"]})
    return chunks
