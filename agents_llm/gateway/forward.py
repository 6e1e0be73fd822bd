"""Sending a client's request along its agent's chain until a model gives a usable answer.

Three ways to ask a model, one behaviour seen by the client:
- pass-through (OpenAI-protocol vendors): the client's body with the model, sampling
  and key rewritten, over one pooled keep-alive HTTP client per credential and event
  loop; only what validation, fallback and usage need is parsed;
- translation (Anthropic, Google, Mistral): OpenAI messages and tools become
  PydanticAI messages and tool definitions for `pydantic_ai.direct.model_request`,
  and the answer becomes OpenAI's shape again;
- offline: a synthetic answer, with no network.

The chain moves on after connection errors, timeouts, 401/403/404/408/409/429/5xx and
after an answer that does not match the structure the request asked for (its
`json_schema` format or a called tool's `parameters`). Any other vendor 4xx is the
request's own fault and goes back to the client. A stream can only move on before its
first byte.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents_llm.agents import chain as chains
from agents_llm.agents.chain import Chain, Fallback, Link, moves_on
from agents_llm.gateway import protocol, vendor_http
from agents_llm.gateway.errors import GatewayError
from agents_llm.gateway.protocol import ChatRequest
from agents_llm.metering import tokens
from agents_llm.metering.budgets import BudgetRefused
from agents_llm.metering.pricing import PriceSource, TokenUsage

if TYPE_CHECKING:
    import aiohttp

    from agents_llm.agents.chain import Meter

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0


class AttemptFailed(chains.AttemptFailed):
    """A link's failure, with the vendor's HTTP status (on the attempt's record) and
    what the vendor billed for it, if anything."""

    def __init__(
        self, error_class: str, message: str, *, retry: bool = True, status: int | None = None,
        usage: TokenUsage | None = None,
    ) -> None:
        super().__init__(error_class, message, move_on=retry, status=status)
        self.status = status
        self.usage = usage


@dataclass
class Answer:
    """A usable answer: a whole completion body (`model` = what the client asked for),
    or an open pass-through stream."""

    target: Link
    body: dict[str, Any] | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    stream: aiohttp.ClientResponse | None = None


@dataclass
class ChainResult:
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # Every response a vendor billed, answered or not: (how it is priced, its usage).
    responses: list[tuple[PriceSource, TokenUsage]] = field(default_factory=list)
    answer: Answer | None = None
    error: GatewayError | None = None
    refused: bool = False  # by the session's budget or state: nothing was sent

    @property
    def fell_back(self) -> bool:
        return self.answer is not None and len(self.attempts) > 1


async def run_chain(
    chain: Chain, req: ChatRequest, *, max_tokens: int | None = None, meter: Meter | None = None,
) -> ChainResult:
    """Ask each model of the agent's chain in turn (agents_llm.agents.chain.Fallback).
    `max_tokens` is the client's output cap (used when the config sets none). With a
    `meter`, each vendor request is first reserved in its session (which may make it
    wait, refuse it, or cap its output); the call's row settles the reservations."""
    result = ChainResult()
    fallback: Fallback[Answer] = Fallback(chain)
    if meter is not None:
        count, cache_marked = prompt_counter(req), writes_cache(req)

    async def ask(link: Link) -> Answer:
        cap, hold = output_cap(link, max_tokens), None
        if meter is not None:
            hold = await meter.reserve(link, cap, count(link), writes_cache=cache_marked)  # BudgetRefused ends the walk
            cap = hold.max_tokens
        try:
            if link.offline:
                answer = _offline(chain, req, link)
            elif link.openai_protocol:
                answer = await _passthrough(chain, req, link, cap)
            else:
                answer = await _translated(chain, req, link, cap)
        except Exception as exc:  # noqa: BLE001 - whatever one model does, the chain goes on
            failure = exc if isinstance(exc, AttemptFailed) else _unexpected(link, exc)
            if failure.usage is not None:
                result.responses.append((link.price, failure.usage))
            if hold is not None:
                await meter.used(hold, link, failure.usage or TokenUsage())
            raise failure from None
        fallback.record(link, status=None)
        if answer.stream is None:
            result.responses.append((link.price, answer.usage))
        return answer

    try:
        answered = await fallback.run(ask, status=None)
    except BudgetRefused as refusal:
        result.attempts, result.refused, result.error = fallback.attempts, True, _refusal_error(refusal)
        return result
    result.attempts = fallback.attempts
    if answered is not None:
        result.answer = answered[1]
    elif fallback.stopped is not None and fallback.current is not None:
        stopped = fallback.stopped
        result.error = GatewayError(
            stopped.details.get("status") or 400,
            f"Provider '{fallback.current.provider_name}' refused the request for agent '{chain.agent_name}': "
            f"{stopped.message}",
            code="upstream_bad_request",
        )
    else:
        result.error = _chain_error(chain, result.attempts)
    return result


def _refusal_error(refusal: BudgetRefused) -> GatewayError:
    if refusal.code == "session_closed":
        return GatewayError(409, refusal.message, code="session_closed")
    if refusal.code == "budget_wait_timeout":
        return GatewayError(429, refusal.message, type="budget_wait_timeout", code="budget_wait_timeout")
    return GatewayError(402, refusal.message, type=refusal.code, code=refusal.code)


def _unexpected(target: Link, exc: Exception) -> AttemptFailed:
    # A bug on our side with one model must not become a 500: the next model is tried,
    # and the log has the trace (messages are redacted: SDK errors may quote the key).
    logger.error("gateway: unexpected %s from %s/%s", type(exc).__name__, target.provider_name, target.model_name,
                 exc_info=False)
    return AttemptFailed(type(exc).__name__, target.redact(str(exc)) or type(exc).__name__)


def _chain_error(chain: Chain, attempts: list[dict[str, Any]]) -> GatewayError:
    if not attempts:
        return GatewayError(
            502, f"Agent '{chain.agent_name}' has no enabled LLM config.", type="upstream_error", code="upstream_error"
        )
    last = attempts[-1]
    kind = "invalid_output" if last["error_class"] == "InvalidOutput" else "upstream_error"
    return GatewayError(
        502,
        f"All {len(attempts)} model(s) of agent '{chain.agent_name}' failed; the last one "
        f"({last['provider']}/{last['model']}) said {last['error_class']}: {last['message']}",
        type=kind, code=kind,
    )


def output_cap(target: Link, max_tokens: int | None) -> int | None:
    """The config's cap wins; else the one given (the client's, or what its session's
    budget reserved)."""
    return target.max_tokens or max_tokens


# Pass-through ------------------------------------------------------------------------

def _client(target: Link) -> aiohttp.ClientSession:
    """One keep-alive session per credential, per event loop (see vendor_http)."""
    return vendor_http.session(target.base_url, target.api_key)


def vendor_body(req: ChatRequest, target: Link, max_tokens: int | None) -> dict[str, Any]:
    """The client's body with what the agent's config decides rewritten."""
    body = dict(req.body)
    body["model"] = target.model_name
    if target.temperature is not None:
        body["temperature"] = target.temperature
    if target.top_p is not None:
        body["top_p"] = target.top_p
    cap = output_cap(target, max_tokens)
    if cap:
        body["max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"] = cap
    if req.stream:
        # Usage is recorded from the stream, whether the client asked for it or not.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return body


async def _passthrough(route: Chain, req: ChatRequest, target: Link, max_tokens: int | None) -> Answer:
    client = _client(target)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    content = json.dumps(vendor_body(req, target, max_tokens), separators=(",", ":")).encode()
    try:
        response, raw = await vendor_http.post(
            client, f"{target.base_url}/chat/completions", content, headers, stream=req.stream,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except vendor_http.Timeout as exc:
        raise AttemptFailed("Timeout", str(exc)) from None
    except vendor_http.Failed as exc:
        raise AttemptFailed(exc.error_class, target.redact(str(exc)) or exc.error_class) from None
    if response.status != 200:
        raise _vendor_error(target, response, raw or b"")
    if raw is None:
        return Answer(target=target, stream=response)
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise AttemptFailed("InvalidResponse", "The vendor's answer is not a chat completion.") from None
    usage = TokenUsage.from_openai(data.get("usage"))
    problem = protocol.answer_problems(req, message)
    if problem:
        raise AttemptFailed("InvalidOutput", problem, usage=usage)
    data["model"] = req.model
    return Answer(target=target, body=data, usage=usage)


def _vendor_error(target: Link, response: aiohttp.ClientResponse, raw: bytes) -> AttemptFailed:
    status = response.status
    try:
        error = json.loads(raw).get("error")
        text = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        text = raw.decode("utf-8", "replace")[:300]
    message = f"HTTP {status}: {target.redact(str(text or '').strip()) or response.reason or ''}"
    retry = moves_on(status)
    return AttemptFailed(f"HTTP{status}", message, retry=retry, status=status)


async def relay_stream(answer: Answer, asked: str, include_usage: bool, usage: TokenUsage) -> AsyncIterator[bytes]:
    """The vendor's server-sent events with `model` set to what the client asked for;
    the usage chunk is read into `usage` and passed on only when the client asked."""
    response = answer.stream
    assert response is not None
    try:
        async for line in vendor_http.lines(response):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                yield protocol.DONE
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if isinstance(chunk.get("usage"), dict):
                usage += TokenUsage.from_openai(chunk["usage"])
                if not include_usage:
                    if not chunk.get("choices"):
                        continue
                    chunk["usage"] = None
            chunk["model"] = asked
            yield protocol.sse(chunk)
    finally:
        response.release()


# Translation through PydanticAI ----------------------------------------------------------


async def _translated(route: Chain, req: ChatRequest, target: Link, max_tokens: int | None) -> Answer:
    from pydantic_ai.direct import model_request
    from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError, UnexpectedModelBehavior, UserError

    from agents_llm.gateway import translate
    from providers import backends

    model_settings = backends.request_settings(
        temperature=target.temperature if target.temperature is not None else req.temperature,
        max_tokens=output_cap(target, max_tokens),
        top_p=target.top_p if target.top_p is not None else req.top_p,
    )
    stop = req.body.get("stop")
    if stop:
        model_settings["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(req.body.get("seed"), int):
        model_settings["seed"] = req.body["seed"]
    if isinstance(req.body.get("parallel_tool_calls"), bool):
        model_settings["parallel_tool_calls"] = req.body["parallel_tool_calls"]
    try:
        messages = translate.to_pydantic(req.messages)
        model = backends.build_model(
            provider=target.provider, model_name=target.model_name, api_key=target.api_key,
            model_settings=model_settings,
        )
        response = await model_request(
            model, messages, model_settings=model_settings, model_request_parameters=translate.parameters(req),
        )
    except translate.Untranslatable as exc:
        raise AttemptFailed("Untranslatable", str(exc), retry=False, status=400) from None
    except ModelHTTPError as exc:
        message = f"HTTP {exc.status_code}: {target.redact(str(exc.message))}"
        retry = moves_on(exc.status_code)
        raise AttemptFailed(f"HTTP{exc.status_code}", message, retry=retry, status=exc.status_code) from None
    except (ModelAPIError, UnexpectedModelBehavior, UserError) as exc:
        raise AttemptFailed(type(exc).__name__, target.redact(str(exc))) from None
    usage = TokenUsage.from_pydantic(response.usage)
    message, finish = translate.to_openai(response, req)
    problem = protocol.answer_problems(req, message)
    if problem:
        raise AttemptFailed("InvalidOutput", problem, usage=usage)
    body = protocol.completion_body(
        model=req.model, message=message, finish_reason=finish,
        usage=protocol.usage_body(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens),
    )
    return Answer(target=target, body=body, usage=usage)


# Offline -------------------------------------------------------------------------------


def _offline(route: Chain, req: ChatRequest, target: Link) -> Answer:
    """A synthetic answer: a schema-valid call when the request forces a tool or binds
    exactly one, schema-valid JSON for a json format, else text. Never a call to one of
    several tools the model would be choosing between: a client runs the tools it gets
    called, for real."""
    tool = None
    if req.tools and req.tool_choice != "none":
        tool = req.forced_tool or (next(iter(req.tools)) if len(req.tools) == 1 else None)
    try:
        if tool is not None:
            arguments = json.dumps(_synthetic(req.tools[tool]))
            message: dict[str, Any] = {
                "role": "assistant", "content": None, "refusal": None,
                "tool_calls": [{"id": "call_" + secrets.token_hex(8), "type": "function",
                                "function": {"name": tool, "arguments": arguments}}],
            }
            finish, text = "tool_calls", arguments
        elif req.format_schema is not None:
            text = json.dumps(_synthetic(req.format_schema))
            message, finish = {"role": "assistant", "content": text, "refusal": None}, "stop"
        else:
            text = (
                f"[offline] Synthetic answer for agent '{route.agent_name}': no model was called. "
                "Configure a vendor model for this agent to get real answers."
            )
            message, finish = {"role": "assistant", "content": text, "refusal": None}, "stop"
    except ValueError as exc:
        raise AttemptFailed("NoSyntheticAnswer", f"The offline provider cannot build a matching answer: {exc}") from None
    # What a budget reserved for this prompt (metering.tokens' bound for a vendor it does not know).
    prompt_tokens = tokens.count_prompt(target.provider_type, target.model_name, req.body).tokens
    usage = TokenUsage(input_tokens=prompt_tokens, output_tokens=max(1, len(text) // 4))
    body = protocol.completion_body(
        model=req.model, message=message, finish_reason=finish,
        usage=protocol.usage_body(usage.input_tokens, usage.output_tokens),
    )
    return Answer(target=target, body=body, usage=usage)


def _synthetic(schema: dict[str, Any]) -> Any:
    """A deterministic instance of `schema` (ValueError when none can be built). Task
    schemas compile; a client's tool schema may use more of JSON Schema than tasks
    allow, so it falls back to the example builder on the schema as sent."""
    import random

    from agents_llm import output_schema

    try:
        return output_schema.compile_output_type(schema).example(seed=0)
    except output_schema.OutputSchemaError:
        pass
    rng = random.Random(0)
    check = protocol.validator(schema)
    for _ in range(20):
        candidate = output_schema.random_instance(schema, rng)
        if check.is_valid(candidate):
            return candidate
    raise ValueError("no instance of the schema could be built")


# Counting a prompt -------------------------------------------------------------------------


def prompt_counter(req: ChatRequest) -> Callable[[Link], int]:
    """What each link's vendor will count as the request's prompt tokens, or more
    (agents_llm.metering.tokens: exact for OpenAI models, a UTF-8 bound for others);
    counted once per request and way of counting."""
    counted: dict[str | None, int] = {}

    def count(link: Link) -> int:
        way = tokens.openai_encoding(link.provider_type, link.model_name)
        if way not in counted:
            counted[way] = tokens.count_prompt(link.provider_type, link.model_name, req.body).tokens
        return counted[way]

    return count


def writes_cache(req: ChatRequest) -> bool:
    """Whether the request asks the vendor to write its prompt cache (Anthropic's
    `cache_control` marks), which costs more than a plain prompt token."""
    return "cache_control" in json.dumps(req.body.get("messages"), separators=(",", ":"))
