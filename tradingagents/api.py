"""The one NinjaAPI, mounted at /api/v1/ (interactive docs at /api/docs).

Every error leaves here in one shape: {"detail": str, "errors": [{"loc": [...], "msg": str}]}.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError, connection
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.responses import Status
from redis.exceptions import ConnectionError as RedisConnectionError

from agents_llm.api import router as agents_router
from providers.api import router as providers_router
from tradingagents import strict_json
from tradingagents.auth import API_AUTH
from tradingagents.dbthreads import recover_pool
from tradingagents.errors import BodyTooLarge
from tradingagents.schemas import ErrorOut
from tradingagents.strict_json import InvalidJSON

logger = logging.getLogger(__name__)

UNIQUE_CODES = {"unique", "unique_together"}


MAX_BODY_DEPTH = 32


class StrictJSONParser(Parser):
    """JSON that every database backend can store: finite numbers, valid Unicode text
    without NUL characters."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = strict_json.loads(request.body)
        # Every body of this API is an object; ninja would read `null` or `[]` as one
        # with no fields (a PATCH that changes nothing, answered 200).
        if not isinstance(data, dict):
            raise InvalidJSON([], "The body must be a JSON object.")
        # PostgreSQL text and jsonb cannot hold NUL characters or lone surrogates.
        strict_json.check(data, max_depth=MAX_BODY_DEPTH)
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict[str, Any]:
        for key, values in data.lists():
            problem = next(filter(None, map(strict_json.text_problem, [key, *values])), None)
            if problem:
                raise NinjaValidationError([{"loc": ("query", key), "msg": problem}])
        return super().parse_querydict(data, list_fields, request)


ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No valid credentials.",
    403: "Authenticated, but without the permission this needs.",
    405: "Method not allowed.",
    413: "The request body is over the size limit.",
    422: "Invalid input: `errors` says which field and why.",
}


class API(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        """Document the errors every operation can give in the one error shape, also
        for routers that do not list them (the shape is the same everywhere)."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"))
        for item in ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
            components.setdefault(*item)
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                codes = [422, 405]
                if operation.get("security"):
                    codes += [401, 403]
                if method in ("post", "put", "patch"):
                    codes += [400, 413]
                for code in codes:
                    operation["responses"].setdefault(
                        code,
                        {"description": ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": ERROR_REF}}},
                    )
        return schema


api = API(
    title="tradingagents",
    version="1",
    description=(
        "Agents, their LLM configs, providers, tasks, runs and usage. Authenticate with "
        "`Authorization: Bearer <token>` (`manage.py createapitoken USER`) or a staff session + CSRF. "
        "Every error is `{\"detail\": str, \"errors\": [{\"loc\": [...], \"msg\": str}]}`."
    ),
    urls_namespace="api",
    auth=API_AUTH,
    parser=StrictJSONParser(),
    docs_url=None,
)


def error_response(
    request: HttpRequest, status: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or []}, status=status)


def _loc(item: Any) -> list[str | int]:
    loc = [part if isinstance(part, int) else str(part) for part in item]
    # ninja puts the view's argument name after "body"; clients only know the fields.
    if len(loc) > 2 and loc[0] == "body" and loc[1] == "payload":
        del loc[1]
    return loc


@api.exception_handler(NinjaValidationError)
def _on_invalid_input(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "Invalid value."))} for e in exc.errors]
    first = errors[0] if errors else None
    detail = f"Invalid input at {'.'.join(map(str, first['loc']))}: {first['msg']}" if first else "Invalid input."
    return error_response(request, 422, detail, errors)


@api.exception_handler(DjangoValidationError)
def _on_domain_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors: list[dict[str, Any]] = []
    conflict = False
    if hasattr(exc, "error_dict"):
        for field, field_errors in exc.error_dict.items():
            loc = ["body"] if field == NON_FIELD_ERRORS else ["body", field]
            for error in field_errors:
                conflict |= error.code in UNIQUE_CODES
                errors.extend({"loc": loc, "msg": msg} for msg in error.messages)
    else:
        errors = [{"loc": ["body"], "msg": msg} for msg in exc.messages]
    first = errors[0] if errors else {"loc": ["body"], "msg": "Invalid input."}
    where = ".".join(map(str, first["loc"]))
    if conflict:
        return error_response(request, 409, f"Conflict at {where}: {first['msg']}", errors)
    return error_response(request, 422, f"Invalid input at {where}: {first['msg']}", errors)


@api.exception_handler(IntegrityError)
def _on_integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    # A race the model validation could not see (two writers at once). The database's
    # message is not echoed: it may quote row values.
    return error_response(request, 409, "This conflicts with an existing record; reload and try again.")


@api.exception_handler(ProtectedError)
def _on_protected(request: HttpRequest, exc: ProtectedError | RestrictedError) -> HttpResponse:
    used_by = sorted({str(obj) for obj in list(getattr(exc, "protected_objects", None) or exc.restricted_objects)[:5]})
    return error_response(request, 409, f"Still in use by: {', '.join(used_by)}. Remove those first.")


api.add_exception_handler(RestrictedError, _on_protected)


@api.exception_handler(DataError)
def _on_data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    return error_response(request, 422, "A value is out of the range the database can store.", [{"loc": ["body"], "msg": "Value out of range."}])


RETRY_AFTER_SECONDS = 2


def _on_saturated(request: HttpRequest, exc: Exception) -> HttpResponse:
    # No free database connection (pool timeout, server's connection cap, a locked
    # SQLite file) or Redis connection: the server is saturated, not broken.
    logger.warning("503 for %s %s: %s", request.method, request.path, type(exc).__name__)
    if isinstance(exc, OperationalError):
        recover_pool()  # dead pooled connections (a database restart) are replaced for the next requests
    response = error_response(request, 503, f"The server is busy; retry in {RETRY_AFTER_SECONDS} s.")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


api.add_exception_handler(OperationalError, _on_saturated)
api.add_exception_handler(RedisConnectionError, _on_saturated)


@api.exception_handler(RequestDataTooBig)
def _on_body_too_large(request: HttpRequest, exc: RequestDataTooBig | BodyTooLarge) -> HttpResponse:
    limit = getattr(exc, "limit", None) or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    msg = f"The request body is too large (the limit is {limit} bytes)."
    return error_response(request, 413, msg, [{"loc": ["body"], "msg": msg}])


api.add_exception_handler(BodyTooLarge, _on_body_too_large)


@api.exception_handler(Http404)
def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(request, 404, "Not found.")


api.add_exception_handler(ObjectDoesNotExist, _on_not_found)


@api.exception_handler(PermissionDenied)
def _on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, str(exc) or "Permission denied.")


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        cause = InvalidJSON([], f"The body is nested more than {MAX_BODY_DEPTH} levels deep.")
    if isinstance(cause, InvalidJSON):
        loc = ["body", *cause.loc]
        return error_response(request, 422, f"Invalid input: {cause.msg}", [{"loc": loc, "msg": cause.msg}])
    if exc.status_code == 400 and isinstance(cause, (ValueError, UnicodeDecodeError)):
        return error_response(request, 400, "The request body is not valid JSON.", [{"loc": ["body"], "msg": "Invalid JSON."}])
    detail = str(exc)
    if exc.status_code == 401:
        detail = "Authentication required: send Authorization: Bearer <token> (or a staff session)."
    return error_response(request, exc.status_code, detail)


@api.exception_handler(Exception)
def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("unexpected %s in %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)
    return error_response(request, 500, "Internal error; it has been logged.")


# Health ------------------------------------------------------------------------------


class CheckOut(Schema):
    ok: bool
    detail: str


class HealthOut(Schema):
    status: str
    checks: dict[str, CheckOut]


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    import dramatiq

    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is not None:  # Redis
        client.ping()
    elif hasattr(broker, "connection"):  # RabbitMQ
        broker.connection  # noqa: B018 - opening it is the check


def _check_channel_layer() -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def ping() -> None:
        await asyncio.wait_for(layer.group_send("health", {"type": "health.ping"}), timeout=3)

    async_to_sync(ping)()


HEALTH_CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "broker": _check_broker,
    "channel_layer": _check_channel_layer,
}


@api.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["health"])
def health(request: HttpRequest):
    """Reachability of the database, the job broker and the channel layer. No auth."""
    checks: dict[str, dict[str, Any]] = {}
    for name, check in HEALTH_CHECKS.items():
        try:
            check()
            checks[name] = {"ok": True, "detail": "reachable"}
        except Exception as exc:  # only the class name: messages can hold connection URLs
            checks[name] = {"ok": False, "detail": f"unreachable ({type(exc).__name__})"}
    healthy = all(c["ok"] for c in checks.values())
    return Status(200 if healthy else 503, {"status": "ok" if healthy else "degraded", "checks": checks})


api.add_router("/", providers_router)
api.add_router("/", agents_router)


# URLs --------------------------------------------------------------------------------


def _json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Ninja answers an unknown method with a bare 405 and Django answers an unknown
    path with an HTML 404; give both the API's error shape."""

    def convert(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            converted = error_response(request, 405, f"Method {request.method} not allowed; allowed: {response['Allow']}.")
            converted["Allow"] = response["Allow"]
            return converted
        return response

    if asyncio.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return convert(request, await view(request, *args, **kwargs))
            except Http404:
                return error_response(request, 404, "Not found.")

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return convert(request, view(request, *args, **kwargs))
        except Http404:
            return error_response(request, 404, "Not found.")

    return wrapper


def _not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse({"detail": f"No API endpoint at {request.path}.", "errors": []}, status=404)


def api_urls() -> tuple[list[Any], str, str]:
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if hasattr(pattern, "callback"):
            pattern.callback = _json_errors(pattern.callback)
    return [*patterns, re_path(r"^(?P<rest>.*)$", _not_found)], app_name, namespace


def docs_view(request: HttpRequest) -> HttpResponse:
    from ninja.openapi.views import openapi_view

    return openapi_view(request, api)


