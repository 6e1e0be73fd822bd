"""The floors under any Python pass-through gateway: two no-op forwarders, bare ASGI apps
that send the body of `POST /v1/chat/completions` to the vendor and give its answer back
unchanged (a stream chunk by chunk as it comes), nothing parsed, checked or recorded.
One pooled keep-alive client per process, made on the first request (on uvicorn's loop):

- `bench._floors:httpx_app`: httpx.AsyncClient;
- `bench._floors:aiohttp_app`: aiohttp.ClientSession.

    BENCH_VENDOR_URL=http://127.0.0.1:PORT/v1 .venv/bin/uvicorn bench._floors:aiohttp_app \\
        --loop uvloop --http httptools --lifespan off --no-access-log --port 8001
"""

from __future__ import annotations

import os
from typing import Any

VENDOR = os.environ.get("BENCH_VENDOR_URL", "http://127.0.0.1:8000/v1").rstrip("/") + "/chat/completions"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ.get("BENCH_VENDOR_KEY", "sk-bench")}
NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'

_httpx: Any = None
_aiohttp: Any = None


async def _request_body(scope: dict, receive: Any, send: Any) -> bytes | None:
    """The request's body, or None after answering 404 to anything but the one route."""
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
        await _answer(send, 404, b"application/json", NOT_FOUND)
        return None
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _answer(send: Any, status: int, content_type: bytes, data: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(data))]})
    await send({"type": "http.response.body", "body": data})


async def _start_stream(send: Any, status: int, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"cache-control", b"no-cache")]})


async def httpx_app(scope: dict, receive: Any, send: Any) -> None:
    global _httpx
    if scope["type"] != "http":
        return
    body = await _request_body(scope, receive, send)
    if body is None:
        return
    if _httpx is None:
        import httpx

        _httpx = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))
    response = await _httpx.send(_httpx.build_request("POST", VENDOR, content=body, headers=HEADERS), stream=True)
    try:
        content_type = response.headers.get("content-type", "application/json").encode()
        if content_type.startswith(b"text/event-stream"):
            await _start_stream(send, response.status_code, content_type)
            async for part in response.aiter_raw():
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _answer(send, response.status_code, content_type, await response.aread())
    finally:
        await response.aclose()


async def aiohttp_app(scope: dict, receive: Any, send: Any) -> None:
    global _aiohttp
    if scope["type"] != "http":
        return
    body = await _request_body(scope, receive, send)
    if body is None:
        return
    if _aiohttp is None:
        import aiohttp

        _aiohttp = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=60)
        )
    async with _aiohttp.post(VENDOR, data=body, headers=HEADERS) as response:
        content_type = response.headers.get("Content-Type", "application/json").encode()
        if content_type.startswith(b"text/event-stream"):
            await _start_stream(send, response.status, content_type)
            async for part in response.content.iter_any():
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _answer(send, response.status, content_type, await response.read())
