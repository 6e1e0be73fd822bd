"""The pass-through's HTTP client: one pooled keep-alive aiohttp session per event loop
and vendor credential (base URL and key).

aiohttp rather than httpx: under load most of the gateway's time went to httpx's
layers (httpx, httpcore, anyio, h11) around each request; aiohttp parses HTTP in C
and costs a fraction of that per request.

A session belongs to the event loop it was made on. Sessions of a loop that has
closed are dropped when the next one is made. A forked child forgets its parent's at
once, without closing them: their sockets, and the event loop watching them, are the
parent's.

What the gateway's httpx client did, this one does too: up to 200 connections,
idle ones kept for 5 seconds, no redirects followed, certifi's roots (or
SSL_CERT_FILE / SSL_CERT_DIR), the environment's proxy (read once per session), a
connect timeout and a request deadline. A whole answer must come within the deadline;
a stream has no overall deadline, only the same limit on each wait for its next bytes
(as httpx's read timeout was).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import hashlib
import os
import ssl
import threading
from collections.abc import AsyncIterator

import aiohttp
from django.conf import settings

MAX_CONNECTIONS = 200
KEEPALIVE_SECONDS = 5.0

SessionKey = tuple[asyncio.AbstractEventLoop, str, str]  # loop, base URL, key digest

_sessions: dict[SessionKey, aiohttp.ClientSession] = {}
_sessions_lock = threading.Lock()


class Timeout(Exception):
    """No answer in time; the message names which wait ran out."""


class Failed(Exception):
    """The vendor could not be reached or its answer was broken off or malformed.
    `error_class` is the name the attempt is recorded with."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


# Attempt records keep the names they had under httpx, the gateway's client before.
_ERROR_CLASSES: tuple[tuple[type[Exception], str], ...] = (
    (aiohttp.ClientConnectorError, "ConnectError"),
    (aiohttp.ServerDisconnectedError, "RemoteProtocolError"),
    (aiohttp.ClientPayloadError, "RemoteProtocolError"),  # the body broken off
    (aiohttp.ClientResponseError, "RemoteProtocolError"),  # not HTTP
    (aiohttp.ClientOSError, "NetworkError"),
)


def session(base_url: str, api_key: str | None) -> aiohttp.ClientSession:
    """The session of the running event loop for this credential."""
    key = (asyncio.get_running_loop(), base_url, hashlib.sha256((api_key or "").encode()).hexdigest())
    found = _sessions.get(key)
    if found is None:
        with _sessions_lock:
            _drop_ended()
            found = _sessions.get(key)
            if found is None:
                found = _sessions[key] = _new_session(base_url)
    return found


def session_count() -> int:
    return len(_sessions)


async def post(
    client: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str], *, stream: bool,
    connect_timeout: float,
) -> tuple[aiohttp.ClientResponse, bytes | None]:
    """POST `data` to `url`: the response and its whole body, or for a stream that
    answered 200 the response still open (None as body: the caller reads it with
    `lines` and releases it). Raises Timeout or Failed."""
    whole, streamed = _timeouts(settings.LLM_REQUEST_TIMEOUT_SECONDS, connect_timeout)
    timeout = streamed if stream else whole
    response = None
    try:
        try:
            response = await client.post(url, data=data, headers=headers, allow_redirects=False, timeout=timeout)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # The vendor ended the connection before any byte of an answer (a kept
            # connection it had closed, a burst of new ones it shed): nothing was
            # answered, so the request is sent once more. The broken connection is not
            # used again.
            response = await client.post(url, data=data, headers=headers, allow_redirects=False, timeout=timeout)
        if stream and response.status == 200:
            return response, None
        return response, await response.read()
    except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
        raise Timeout(f"No answer in time ({type(exc).__name__}).") from None
    except aiohttp.ClientError as exc:
        raise Failed(error_class(exc), str(exc) or type(exc).__name__) from None
    finally:
        if response is not None and not (stream and response.status == 200):
            response.release()


def error_class(exc: Exception) -> str:
    for kind, name in _ERROR_CLASSES:
        if isinstance(exc, kind):
            return name
    return type(exc).__name__


async def lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body's lines without their ends (LF, CRLF or CR, as server-sent events end
    them), of any length."""
    pending = b""
    async for chunk in response.content.iter_any():
        if pending:
            chunk = pending + chunk
        parts = chunk.splitlines()
        pending = b"" if chunk.endswith((b"\n", b"\r")) else parts.pop()
        for line in parts:
            yield line
    if pending:
        yield pending


@functools.lru_cache(maxsize=8)
def _timeouts(deadline: float, connect: float) -> tuple[aiohttp.ClientTimeout, aiohttp.ClientTimeout]:
    """(a whole answer's, a stream's): a connection is made within `connect`; a whole
    answer comes within `deadline`; a stream waits at most `deadline` for a free
    connection, and as long for each next part of its body."""
    whole = aiohttp.ClientTimeout(total=deadline, sock_connect=connect)
    streamed = aiohttp.ClientTimeout(total=None, connect=deadline, sock_connect=connect, sock_read=deadline)
    return whole, streamed


def _new_session(base_url: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS, ssl=_ssl_context())
    proxy, proxy_auth = _env_proxy(base_url)
    # Its timeouts are given with each request (see post).
    return aiohttp.ClientSession(connector=connector, proxy=proxy, proxy_auth=proxy_auth)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The roots httpx trusted: SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _env_proxy(base_url: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for `base_url` (HTTP(S)_PROXY, NO_PROXY), read
    once here rather than on every request (aiohttp's trust_env reads it per request,
    in a thread)."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None, None
    return str(proxy), auth


def _drop_ended() -> None:
    """Let the sessions of closed loops go (under the lock)."""
    for key in [key for key in _sessions if key[0].is_closed()]:
        _mark_closed(_sessions.pop(key))


def _mark_closed(client: aiohttp.ClientSession) -> None:
    """A session whose loop has closed (or is going with the process), marked closed
    without waiting on that loop: its sockets go with it, and it warns of no unclosed
    session or connector later."""
    connector = client.connector
    if connector is not None:
        connector._close()  # the synchronous part of close(); nothing to wait for on a closed loop
    client.detach()


def _forget_parents() -> None:
    """In a forked child: the parent's sessions let go, none of their sockets closed
    through the parent's event loop (which would stop that loop, in the parent too,
    from watching them: the two share its epoll instance). Their copies of the socket
    descriptors close with them; the parent's connections stay open."""
    global _sessions_lock
    _sessions_lock = threading.Lock()  # a parent's thread may have held it
    for client in _sessions.values():
        connector = client.connector
        client.detach()
        if connector is not None:
            connector._closed = True  # so that it does not close its connections when collected
    _sessions.clear()


os.register_at_fork(after_in_child=_forget_parents)


@atexit.register
def _at_exit() -> None:
    """Every session closed before the interpreter's teardown finds it unclosed (and
    says so in the log): on its own loop where that loop still runs in another
    thread (a second at most), else marked closed."""
    with _sessions_lock:
        mine = [(key[0], client) for key, client in _sessions.items()]
        _sessions.clear()
    closing = []
    for loop, client in mine:
        if loop.is_running():
            closing.append(asyncio.run_coroutine_threadsafe(client.close(), loop))
        else:
            _mark_closed(client)
    if closing:
        concurrent.futures.wait(closing, timeout=1.0)
