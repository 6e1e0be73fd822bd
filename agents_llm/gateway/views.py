"""`POST /v1/chat/completions` and `GET /v1/models`: thin async views.

A call whose caller and agent are cached (tradingagents.auth, agents_llm.agents.chain)
reads no table before the vendor is asked; anything else is looked up on a database
thread (tradingagents.dbthreads). The vendor request runs on the loop; the call's row
is written after it. A database that cannot answer is a 503 with Retry-After, never a
500."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from agents_llm.agents.chain import AgentNotFound, Chain, Meter, achain_for_model
from agents_llm.agents.models import AgentConfig
from agents_llm.gateway import forward, protocol
from agents_llm.gateway.errors import GatewayError, model_not_found, service_unavailable, unauthorized
from agents_llm.metering import budgets, calls, pricing, sessions
from agents_llm.metering.budgets import Hold
from agents_llm.metering.calls import CallOutcome
from agents_llm.metering.models import CallStatus, LLMCall, MeteredSession, SessionStatus
from agents_llm.metering.pricing import TokenUsage
from tradingagents import versions
from tradingagents.auth import TokenUser, auser_for_token, user_for_token
from tradingagents.dbthreads import db_call, db_call_durably, recover_pool

GATEWAY_PERM = "agents_llm.use_gateway"
# A body larger than this is read and checked in a thread: a megabyte of tools or a
# 10,000-property format takes tens of milliseconds, which other calls on the event
# loop would otherwise wait through.
PARSE_ON_LOOP_BYTES = 64 * 1024
logger = logging.getLogger(__name__)


def _database_down_is_503(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """What the JSON API answers when the database cannot (tradingagents.api), in
    OpenAI's error shape: a 503 with Retry-After, not a 500 without a body."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("503 for %s %s: %s", request.method, view.__name__, type(exc).__name__)
            await db_call(recover_pool)
            return service_unavailable().response()

    return wrapper


@dataclass(frozen=True)
class Caller:
    user_id: int
    session_id: Any = None  # the session the call is made in, if any
    lineup_id: int | None = None  # the session's lineup: routes the agents it names


def authenticate(header: str | None, session_header: str | None = None) -> Caller:
    """The caller of a gateway request: a Bearer API token (or a session token, which
    puts the call in its session) whose user may use the gateway; `X-Session-Id` puts
    it in one of the user's sessions."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    session = None
    if token.startswith(sessions.SESSION_TOKEN_PREFIX):
        session = sessions.session_for_token(token)
        user = session.owner if session is not None and session.owner.is_active else None
    else:
        user = user_for_token(token)
    if user is None:
        raise unauthorized("Invalid API key: the token is unknown, revoked, its session closed or its user inactive.")
    if not user.has_perm(GATEWAY_PERM):
        raise GatewayError(
            403, f"Permission denied: calling agents through the gateway needs the '{GATEWAY_PERM}' permission.",
            type="permission_error", code="permission_denied",
        )
    if session_header:
        named = _own_session(user.pk, session_header.strip())
        if session is not None and named.pk != session.pk:
            raise GatewayError(403, "A session token can only make calls in its own session.",
                               type="permission_error", code="permission_denied")
        session = named
    if session is not None and session.status == SessionStatus.CLOSED:
        raise GatewayError(409, f"Session '{session.name}' is closed: open a new one.", code="session_closed")
    if session is None:
        return Caller(user_id=user.pk)
    return Caller(user_id=user.pk, session_id=session.pk, lineup_id=session.lineup_id)


def _own_session(user_id: int, value: str) -> MeteredSession:
    try:
        session_id = uuid.UUID(value)
    except ValueError:
        session_id = None
    session = MeteredSession.objects.filter(pk=session_id, owner_id=user_id).first() if session_id else None
    if session is None:
        raise GatewayError(404, f"No session '{value[:64]}' of yours: open one with POST /api/v1/sessions.",
                           param="X-Session-Id", code="session_not_found")
    return session


async def _caller(request: HttpRequest, seen: versions.Versions | None) -> Caller:
    """authenticate(), without leaving the loop when the caller is an API token whose
    user and permissions are cached and no session is named."""
    header, session_header = request.headers.get("Authorization"), request.headers.get("X-Session-Id")
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if not session_header and scheme.lower() == "bearer" and token and not token.startswith(sessions.SESSION_TOKEN_PREFIX):
        user = await auser_for_token(token, seen)
        if isinstance(user, TokenUser) and user.known_perm(GATEWAY_PERM):
            return Caller(user_id=user.pk)
    return await db_call(authenticate, header, session_header)


def _body(request: HttpRequest) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise GatewayError(
            413, f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", code="request_too_large",
        ) from None


async def _chain(model: str, seen: versions.Versions | None, lineup_id: int | None) -> Chain:
    try:
        return await achain_for_model(model, seen, lineup_id)
    except AgentNotFound:
        raise model_not_found(model) from None


def _headers(response: HttpResponse, route: Chain, outcome: CallOutcome, call_id: int | None, provider: str) -> HttpResponse:
    response["x-agent"] = route.agent_name
    if provider:
        response["x-provider"] = provider
        response["x-vendor-model"] = outcome.model_name
    if call_id is not None:
        response["x-call-id"] = str(call_id)
    if outcome.cost is not None and not outcome.streamed:
        response["x-cost-usd"] = str(outcome.cost)
    return response


def _settle(outcome: CallOutcome, result: forward.ChainResult, started: float) -> None:
    usage = TokenUsage()
    for _, response_usage in result.responses:
        usage += response_usage
    outcome.usage = usage
    priced = pricing.price_all(result.responses, at=outcome.created_at)
    outcome.cost, outcome.cost_note, outcome.cost_basis = priced.cost, priced.note, priced.basis
    outcome.attempts = result.attempts
    outcome.latency_ms = int((time.perf_counter() - started) * 1000)


@csrf_exempt
@_database_down_is_503
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return GatewayError(405, "Use POST.", code="method_not_allowed").response()
    started = time.perf_counter()
    try:
        seen = await versions.acurrent()  # what the caches below are checked against: one read
        caller = await _caller(request, seen)
        body = _body(request)
        if len(body) <= PARSE_ON_LOOP_BYTES:
            req = protocol.parse_request(body)
        else:
            req = await asyncio.to_thread(protocol.parse_request, body)
        route = await _chain(req.model, seen, caller.lineup_id)
    except GatewayError as exc:
        return exc.response()
    meter = None
    if caller.session_id is not None:
        meter = Meter(session_id=caller.session_id)
    result = await forward.run_chain(route, req, max_tokens=req.max_tokens, meter=meter)
    outcome = CallOutcome(
        agent_id=route.agent_id, alias=req.model, user_id=caller.user_id, session_id=caller.session_id,
        streamed=req.stream,
    )
    answer = result.answer
    if answer is None:
        error = result.error
        assert error is not None
        outcome.status = CallStatus.REFUSED if result.refused else CallStatus.FAILED
        outcome.error_code, outcome.error = error.code or "", error.message
        _settle(outcome, result, started)
        call = await _recorded(outcome, meter)
        return _headers(error.response(), route, outcome, call.pk, "")
    target = answer.target
    outcome.status = CallStatus.SUCCEEDED
    outcome.provider_id, outcome.model_name = target.provider.pk, target.model_name
    outcome.synthetic, outcome.fell_back = target.offline, result.fell_back
    _settle(outcome, result, started)
    if answer.stream is not None:
        return await _relay(route, req, answer, result, outcome, started, meter)
    call = await _recorded(outcome, meter)
    assert answer.body is not None
    if req.stream:  # a whole answer (offline, translated), framed as OpenAI streams it
        response: HttpResponse = StreamingHttpResponse(
            _frames(protocol.chunks_for(answer.body, include_usage=req.include_usage)), content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
    else:
        response = JsonResponse(answer.body)
    return _headers(response, route, outcome, call.pk, target.provider_name)


async def _frames(frames: list[bytes]) -> Any:
    for frame in frames:
        yield frame


async def _recorded(outcome: CallOutcome, meter: Meter | None, holds: list[Hold] | None = None) -> LLMCall:
    """The call's row, with its spend counted in its session and its holds (default:
    all the meter's) released, in one transaction; stored even if the client goes now."""
    if holds is None:
        holds = meter.holds if meter is not None else []
    call = await asyncio.shield(db_call_durably(_record, outcome, holds))
    if outcome.session_id is not None:
        budgets.settled(outcome.session_id)
    return call


def _record(outcome: CallOutcome, holds: list[Hold]) -> LLMCall:
    call = calls.call_record(outcome, holds)
    if outcome.session_id is not None:
        sessions.session_publish(outcome.session_id)
    return call


def _complete(call_id: int, outcome: CallOutcome, holds: list[Hold], recorded: tuple[int, Any]) -> None:
    calls.call_update(call_id, outcome, holds, recorded=recorded)
    if outcome.session_id is not None:
        sessions.session_publish(outcome.session_id)


async def _relay(
    route: Chain, req: protocol.ChatRequest, answer: forward.Answer, result: forward.ChainResult,
    outcome: CallOutcome, started: float, meter: Meter | None,
) -> HttpResponse:
    """A pass-through stream: the call's row is written before the first byte (its id
    is a header) and completed with the stream's usage when it ends. The stream's own
    hold is released then; the failed attempts' ones with the first write."""
    holds = meter.holds if meter is not None else []
    before, own = holds[:-1], holds[-1:]
    try:
        call = await _recorded(outcome, meter, before)
    except BaseException:
        assert answer.stream is not None
        answer.stream.release()
        raise
    recorded = (outcome.usage.total, outcome.cost)
    target = answer.target

    async def events() -> Any:
        usage = TokenUsage()
        finished = False
        try:
            async for frame in forward.relay_stream(answer, req.model, req.include_usage, usage):
                finished = frame == protocol.DONE
                yield frame
        finally:
            result.responses.append((target.price, usage))
            _settle(outcome, result, started)
            if not finished:
                outcome.status, outcome.error_code = CallStatus.FAILED, "stream_interrupted"
                outcome.error = "The stream ended before the vendor finished it (client gone or vendor cut off)."
            try:
                await asyncio.shield(db_call_durably(_complete, call.pk, outcome, own, recorded))
            except (OperationalError, InterfaceError) as exc:  # the sweep releases its hold
                logger.error("call %s: its stream's usage could not be stored (%s)", call.pk, type(exc).__name__)
            if outcome.session_id is not None:
                budgets.settled(outcome.session_id)

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return _headers(response, route, outcome, call.pk, target.provider_name)


def _model_list(header: str | None) -> dict[str, Any]:
    authenticate(header)
    data: list[dict[str, Any]] = []
    agents = AgentConfig.objects.filter(enabled=True).prefetch_related("alias_rows").order_by("name")
    for agent in agents:
        created = int(agent.created_at.timestamp())
        data.append({"id": agent.name, "object": "model", "created": created, "owned_by": "tradingagents"})
        data.extend(
            {"id": alias.name, "object": "model", "created": created, "owned_by": agent.name}
            for alias in agent.alias_rows.all()
        )
    return {"object": "list", "data": data}


@_database_down_is_503
async def models(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return GatewayError(405, "Use GET.", code="method_not_allowed").response()
    try:
        return JsonResponse(await db_call(_model_list, request.headers.get("Authorization")))
    except GatewayError as exc:
        return exc.response()


@csrf_exempt
async def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return GatewayError(
        404, f"Unknown path /v1/{rest}: this gateway serves /v1/chat/completions and /v1/models.",
        code="unknown_url",
    ).response()
