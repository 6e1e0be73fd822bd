"""OpenAI Chat Completions on the wire: reading a client's request, checking answers
against the structure it asked for, and writing responses and stream chunks.

The client's body is kept as sent (`ChatRequest.body`): pass-through vendors get it
with only the model, sampling and key rewritten, so fields we do not model still
reach them. Only what routing, validation, fallback and usage need is parsed."""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from agents_llm import output_schema
from agents_llm.gateway.errors import bad_request
from tradingagents import strict_json

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
FORMATS = {"text", "json_object", "json_schema"}
# A json_object answer must be an object; any keys.
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


@dataclass
class ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> parameters schema
    tool_choice: Any = None
    format_type: str = "text"
    format_name: str = "output"
    format_schema: dict[str, Any] | None = None  # json_schema's schema, or JSON_OBJECT_SCHEMA
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None

    @property
    def forced_tool(self) -> str | None:
        """The tool `tool_choice` names, if it names one."""
        choice = self.tool_choice
        if isinstance(choice, dict):
            return (choice.get("function") or {}).get("name")
        return None


def parse_request(raw: bytes) -> ChatRequest:
    """The client's request, or a 400 GatewayError naming the field and why."""
    try:
        body = strict_json.loads(raw)
    except RecursionError:
        raise bad_request(f"The body is nested more than {MAX_DEPTH} levels deep.") from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    try:  # nothing is stored, so NUL characters may pass; no vendor reads a lone surrogate
        strict_json.check(body, max_depth=MAX_DEPTH, nul=True)
    except strict_json.InvalidJSON as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.loc).lstrip(".")
        raise bad_request(f"{where or 'The body'}: {exc.msg}", where or None) from None
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required: the name of an agent or one of its aliases.", "model")
    if "\x00" in model or len(model) > MAX_MODEL_LENGTH:
        raise bad_request(
            f"'model' must name an agent: no NUL characters, at most {MAX_MODEL_LENGTH} characters.", "model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' is required: a non-empty list of messages.", "messages")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise bad_request(
                f"messages[{index}] must be an object with a 'role' of {', '.join(sorted(ROLES))}.",
                f"messages[{index}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise bad_request(f"messages[{index}].content must be a string or a list of parts.", f"messages[{index}].content")
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("Only n=1 is supported: each call is one answer by one agent.", "n")
    req = ChatRequest(body=body, model=model.strip(), messages=messages)
    req.stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", "stream_options")
        req.include_usage = bool(options.get("include_usage"))
    req.tools = _tools(body.get("tools"))
    req.tool_choice = _tool_choice(body.get("tool_choice"), req.tools)
    _response_format(body.get("response_format"), req)
    req.max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    req.temperature = _number(body, "temperature", 0, 2)
    req.top_p = _number(body, "top_p", 0, 1)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
        isinstance(stop, list) and all(isinstance(s, str) for s in stop)
    ):
        raise bad_request("'stop' must be a string or a list of strings.", "stop")
    return req


MAX_DEPTH = 64
MAX_MODEL_LENGTH = 200
MAX_TOOLS = 128
MAX_SCHEMA_CHARS = 100_000  # of one tool's parameters or one response format, as JSON
# The most a check of one answer against its schema may take (patterns run on RE2, in
# linear time; this bounds the rest).
ANSWER_CHECK_SECONDS = 1.0
# An output cap beyond any model's (and below what a budget's sums can overflow on).
MAX_TOKENS = 2**31 - 1


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be true or false.", name)
    return value


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise bad_request(f"'{name}' must be a whole number of at least 1 and at most {MAX_TOKENS}.", name)
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise bad_request(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _tools(tools: Any) -> dict[str, dict[str, Any]]:
    if tools is None:
        return {}
    if not isinstance(tools, list):
        raise bad_request("'tools' must be a list of function tools.", "tools")
    if len(tools) > MAX_TOOLS:
        raise bad_request(f"At most {MAX_TOOLS} tools may be sent in one request (as OpenAI allows).", "tools")
    result: dict[str, dict[str, Any]] = {}
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(function, dict):
            raise bad_request(f"tools[{index}] must be {{'type': 'function', 'function': {{...}}}}.", f"tools[{index}]")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request(f"tools[{index}].function.name is required.", f"tools[{index}].function.name")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        _check_schema(parameters, f"tools[{index}].function.parameters")
        result[name] = parameters
    return result


def _tool_choice(choice: Any, tools: dict[str, dict[str, Any]]) -> Any:
    if choice is None or (isinstance(choice, str) and choice in ("none", "auto", "required")):
        return choice
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise bad_request(
            "'tool_choice' must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}.",
            "tool_choice",
        )
    if name not in tools:
        raise bad_request(f"'tool_choice' names '{name}', which is not one of 'tools'.", "tool_choice")
    return choice


def _response_format(value: Any, req: ChatRequest) -> None:
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in FORMATS:
        raise bad_request("'response_format.type' must be 'text', 'json_object' or 'json_schema'.", "response_format")
    req.format_type = kind
    if kind == "json_object":
        req.format_schema = JSON_OBJECT_SCHEMA
    elif kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request("'response_format.json_schema.schema' must be a JSON Schema object.", "response_format")
        _check_schema(schema, "response_format.json_schema.schema")
        req.format_schema = schema
        req.format_name = str(spec.get("name") or "output")


def _check_schema(schema: Any, param: str) -> None:
    if not isinstance(schema, dict):
        raise bad_request(f"{param} must be a JSON Schema object.", param)
    if len(json.dumps(schema, separators=(",", ":"))) > MAX_SCHEMA_CHARS:
        raise bad_request(f"{param} is larger than {MAX_SCHEMA_CHARS} characters of JSON.", param)
    pattern = output_schema.unrunnable_pattern(schema)
    if pattern is not None:
        raise bad_request(
            f"{param} has a pattern this gateway cannot check in linear time (no lookaround or "
            f"backreferences): {pattern[:100]!r}.", param,
        )
    try:
        validator(schema)
    except jsonschema.SchemaError as exc:
        raise bad_request(f"{param} is not a valid JSON Schema: {exc.message}", param) from None


# Checking answers ---------------------------------------------------------------------

_validators: OrderedDict[str, jsonschema.protocols.Validator] = OrderedDict()
_validators_lock = threading.Lock()
VALIDATOR_CACHE_SIZE = 256


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A checked validator for `schema`, cached by its canonical text: a client sends the
    same tools and formats on every call."""
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    with _validators_lock:
        found = _validators.get(key)
        if found is not None:
            _validators.move_to_end(key)
            return found
    built = output_schema.answer_validator(schema)
    with _validators_lock:
        _validators[key] = built
        while len(_validators) > VALIDATOR_CACHE_SIZE:
            _validators.popitem(last=False)
    return built


def answer_problems(req: ChatRequest, message: dict[str, Any]) -> str:
    """Why an answer does not match what the request asked for ('' when it does): the
    `json_schema`/`json_object` format for content, each tool's `parameters` for a call."""
    calls = message.get("tool_calls") or []
    for call in calls:
        function = (call.get("function") or {}) if isinstance(call, dict) else {}
        name = function.get("name")
        if name not in req.tools:
            return f"The answer calls '{name}', which is not one of the request's tools."
        problem = _instance_problem(req.tools[name], function.get("arguments"), f"the arguments of '{name}'")
        if problem:
            return problem
    if req.format_schema is not None and not calls:
        return _instance_problem(req.format_schema, message.get("content"), "the content")
    return ""


def _instance_problem(schema: dict[str, Any], text: Any, what: str) -> str:
    if not isinstance(text, str):
        return f"{what.capitalize()} is missing."
    if len(text) > output_schema.MAX_ANSWER_CHARS:
        return f"{what.capitalize()} is longer than {output_schema.MAX_ANSWER_CHARS} characters."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{what.capitalize()} is not valid JSON ({exc.msg} at character {exc.pos})."
    except (ValueError, RecursionError):
        return f"{what.capitalize()} is not valid JSON."
    try:
        with output_schema.deadline(ANSWER_CHECK_SECONDS):
            error = jsonschema.exceptions.best_match(validator(schema).iter_errors(data))
    except output_schema.OutputValidationTimeout:
        return f"{what.capitalize()} could not be checked against the schema within {ANSWER_CHECK_SECONDS:g} s."
    if error is None:
        return ""
    where = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"{what.capitalize()} do not match the schema at {where}: {error.message[:200]}"


# Writing responses --------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def usage_body(input_tokens: int, output_tokens: int, cache_read: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def completion_body(
    *, model: str, message: dict[str, Any], finish_reason: str, usage: dict[str, Any], id: str | None = None
) -> dict[str, Any]:
    return {
        "id": id or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


def chunks_for(body: dict[str, Any], *, include_usage: bool) -> list[bytes]:
    """A whole completion as OpenAI's stream frames: the role, the content or each tool
    call, the finish reason, the usage chunk when asked, then [DONE]."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}
    choice = body["choices"][0]
    message = choice["message"]
    frames: list[dict[str, Any]] = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    if message.get("content"):
        frames.append({**base, "choices": [{"index": 0, "delta": {"content": message["content"]}, "finish_reason": None}]})
    for index, call in enumerate(message.get("tool_calls") or []):
        delta = {"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": call["function"]}]}
        frames.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    frames.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if include_usage:
        frames.append({**base, "choices": [], "usage": body["usage"]})
    return [sse(frame) for frame in frames] + [DONE]


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
