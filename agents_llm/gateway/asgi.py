"""`/v1/` served straight from ASGI, in the same application as the admin and the API.

A gateway call is a proxy hop: Django's request cycle (middleware, request signals,
their thread hops) cost several times what the call itself does here, and nothing of
it applies (no session, cookie, CSRF or template; bearer tokens only). The views are
the same ones Django's URLs route to (tests use those); database work goes to the
database threads, which keep their connections (tradingagents.dbthreads). Public
Django APIs only: the host check is django.http.request's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host

from agents_llm.gateway import views
from agents_llm.gateway.errors import GatewayError

CHUNK = 64 * 1024


class Headers:
    """Request headers, looked up in any case (as Django's request.headers)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._values = {name.decode("latin1").lower(): value.decode("latin1") for name, value in raw}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)


class GatewayRequest:
    """What the gateway views read of a request: method, headers and body."""

    def __init__(self, method: str, headers: Headers, body: bytes, too_big: bool) -> None:
        self.method = method
        self.headers = headers
        self._body = body
        self._too_big = too_big

    @property
    def body(self) -> bytes:
        if self._too_big:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return self._body


class GatewayASGI:
    """Serves `/v1/…` itself and hands every other request to `app` (Django)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope.get("headers") or [])
        host, _ = split_domain_port(headers.get("host") or "")
        allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        if not validate_host(host, allowed):  # as Django's request.get_host() would
            await _send(GatewayError(400, "Invalid Host header.", code="invalid_host").response(), send)
            return
        body, too_big = await _read_body(receive)
        request = GatewayRequest(scope.get("method", "GET"), headers, body, too_big)
        if path == "/v1/chat/completions":
            response = await views.chat_completions(request)
        elif path == "/v1/models":
            response = await views.models(request)
        else:
            response = await views.not_found(request, path[len("/v1/"):])
        await _send(response, send)


async def _read_body(receive: Any) -> tuple[bytes, bool]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    parts: list[bytes] = []
    size, too_big = 0, False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            too_big = True  # read on, so the client can be answered, but keep nothing
        elif chunk:
            parts.append(chunk)
        if not message.get("more_body"):
            break
    return (b"" if too_big else b"".join(parts)), too_big


async def _send(response: HttpResponse, send: Any) -> None:
    if not response.streaming and not response.has_header("Content-Length"):
        # As Django's CommonMiddleware sets it (this path skips the middleware): else
        # the server sends a whole answer chunked.
        response["Content-Length"] = str(len(response.content))
    headers = [(name.encode("latin1"), str(value).encode("latin1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    if response.streaming:
        async for part in response.streaming_content:
            if part:
                await send({"type": "http.response.body", "body": bytes(part), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    content = response.content
    for start in range(0, max(len(content), 1), CHUNK):
        last = start + CHUNK >= len(content)
        await send({"type": "http.response.body", "body": content[start:start + CHUNK], "more_body": not last})
