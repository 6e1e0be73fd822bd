"""Where async code does its database work, and the event loops sync code runs
coroutines on.

`db_call(fn, ...)` runs a sync function that uses the ORM on one of a few threads that
keep their database connection between calls (DATABASE_THREADS per process). An
async view's database work would otherwise go, through Django's `sync_to_async`, to a
thread of the request's own and open a connection per request; the OpenAI gateway's
`/v1/` entry, which skips Django's request cycle, would have no such thread at all.
DATABASE_THREADS=0 is Django's own way, `sync_to_async(thread_sensitive=True)`: the
test suite's, whose transactions live in the test's thread.

A kept connection is checked (Django's `is_usable()`, one round trip) before it is used
after an error or after DATABASE_IDLE_CHECK_SECONDS without use: the database may have
ended it meanwhile (a restart, `pg_terminate_backend`, an idle timeout).

`run_sync(coro)`: a sync caller (a worker thread, a command) drives a coroutine on an
event loop of its own thread, kept for its next call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_last_used = threading.local()


async def db_call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` where the database is, awaited from an event loop."""
    if not settings.DATABASE_THREADS:
        return await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)
    call = functools.partial(_with_checked_connection, fn, args, kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor(), call)


async def db_call_durably(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`db_call` for one transaction that must not be lost to a connection the server
    ended (a restart, pg_terminate_backend): while the database is unreachable, tried
    again for up to DB_RETRY_SECONDS. `fn` must be idempotent: a transaction whose
    COMMIT reached the server may have been applied even though its answer was lost
    with the connection, and is then tried again."""
    deadline = time.monotonic() + settings.DB_RETRY_SECONDS
    pause = 0.05
    while True:
        try:
            return await db_call(fn, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("%s failed (%s); trying again in %.2f s", getattr(fn, "__name__", fn), type(exc).__name__, pause)
            await db_call(recover_pool)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)


def _with_checked_connection(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    # These threads see no request_finished, so nothing else closes their connection.
    now = time.monotonic()
    if connection.connection is not None and (
        connection.errors_occurred or now - getattr(_last_used, "at", now) > settings.DATABASE_IDLE_CHECK_SECONDS
    ):
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()
            recover_pool()
    try:
        return fn(*args, **kwargs)
    finally:
        _last_used.at = time.monotonic()


def recover_pool() -> None:
    """After a connection turned out dead: have the psycopg pool (DATABASE_POOL) check
    every idle connection at once and replace the dead ones. A database restart ends
    them all, and the pool's own check at checkout backs off between failed ones (one
    second, then two, four...): a request would wait through several before getting one
    that works. A no-op without the pool, or when it cannot be reached either."""
    pool = getattr(connection, "pool", None)
    if pool is None:
        return
    try:
        pool.check()
    except Exception:  # the database is still down: the next failure tries again
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool
    pool = _pool
    if pool is not None and pool[0] == os.getpid():
        return pool[1]
    with _lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child has none of its parent's threads
            _pool = (os.getpid(), ThreadPoolExecutor(settings.DATABASE_THREADS, thread_name_prefix="db"))
        return _pool[1]


# Coroutines from sync code ------------------------------------------------------------

_local = threading.local()
_shared_lock = threading.Lock()
_shared: tuple[int, asyncio.AbstractEventLoop] | None = None


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run `coro` to its end from sync code. Each thread keeps an event loop of its own
    (HTTP clients keep their connections per loop); a thread whose loop is running
    already (sync code called from async code) hands it to one shared loop thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return asyncio.run_coroutine_threadsafe(coro, _shared_loop()).result(timeout)
    loop = getattr(_local, "loop", None)
    if loop is None or _local.pid != os.getpid() or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
        _local.pid = os.getpid()
    return loop.run_until_complete(asyncio.wait_for(coro, timeout) if timeout is not None else coro)


def _shared_loop() -> asyncio.AbstractEventLoop:
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="shared-loop", daemon=True).start()
            _shared = (os.getpid(), loop)
        return _shared[1]
