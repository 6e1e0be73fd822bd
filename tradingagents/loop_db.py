"""PostgreSQL connections on the server's event loop, for the statements of an inline
run and of a gateway call whose agent, task or route is cached (the *_on_loop functions
of tradingagents.row_writes and tradingagents.hot_reads).

Django's database work is synchronous, so an async view's queries go to a thread and
the answer comes back to the loop: on this machine each such hop cost ~0.25 ms over
the work itself, as much as a statement. psycopg's AsyncConnection waits for the
server on the loop instead. Each loop keeps a few such connections (at most
INLINE_RUNS_DB_THREADS), opened as Django opens its own: the same parameters, type
adapters, time zone and role, autocommit. DATABASE_ON_LOOP=false turns this off.

A LIFO list per loop rather than psycopg_pool's AsyncConnectionPool: that pool runs
tasks of its own on the loop and must be closed on it, while a loop here may end (a
test's) with connections still idle in it; close_all() closes those from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import AsyncToSync
from django.conf import settings
from django.db import connections

# A connection is closed rather than reused once this old, as psycopg_pool's default.
MAX_LIFETIME_SECONDS = 3600.0


def available(alias: str = "default") -> bool:
    """Whether an async caller may write `alias` from its loop: PostgreSQL, allowed by
    DATABASE_ON_LOOP, and no sync caller waiting for this coroutine (a test, an
    async_to_sync), whose open transaction another connection would not see."""
    return (
        settings.DATABASE_ON_LOOP
        and connections[alias].vendor == "postgresql"
        and getattr(AsyncToSync.executors, "current", None) is None
    )


class _Connections:
    """The idle connections of one loop, and how many more it may open."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.idle: list[tuple[float, Any]] = []  # (opened at, connection), the last used last
        self.free = asyncio.Semaphore(size)


_lock = threading.Lock()
_per_loop: dict[tuple[int, asyncio.AbstractEventLoop, str], _Connections] = {}


@contextlib.asynccontextmanager
async def connection(alias: str = "default") -> AsyncIterator[Any]:
    """An open psycopg AsyncConnection to `alias`, in autocommit, for this block. One
    that broke, or that the block left mid-statement (cancelled), is closed."""
    import psycopg

    pool = _pool(asyncio.get_running_loop(), alias)
    async with pool.free:
        conn = None
        while pool.idle:
            opened, candidate = pool.idle.pop()
            if not candidate.closed and time.monotonic() - opened < MAX_LIFETIME_SECONDS and not server_hung_up(candidate):
                conn = candidate
                break
            await candidate.close()
        if conn is None:
            opened, conn = time.monotonic(), await _connect(alias)
        try:
            yield conn
        except psycopg.Error:
            # A statement the server refused (its transaction is over): the connection
            # is as good as before, unless it broke.
            await _keep(pool, opened, conn)
            raise
        except BaseException:  # cancelled mid-statement, say: in an unknown state
            await conn.close()
            raise
        await _keep(pool, opened, conn)


def server_hung_up(conn: Any) -> bool:
    """Whether the server has ended this idle PostgreSQL connection (restarted, or an
    administrator's pg_terminate_backend, or its idle_session_timeout): its socket has
    something to read, or is gone, while nothing was asked. Found without a round trip,
    so that the statement about to be sent is not the one that finds out (and fails its
    request). False for a connection of another database (SQLite)."""
    import psycopg

    pgconn = getattr(conn, "pgconn", None)
    if pgconn is None:
        return False
    try:
        poller = select.poll()  # not select(): a server process may hold fds past 1024
        poller.register(pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))  # readable, or hung up (POLLHUP, POLLERR)
    except (OSError, ValueError, psycopg.OperationalError):  # no socket any more
        return True


async def _keep(pool: _Connections, opened: float, conn: Any) -> None:
    import psycopg

    if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.close()
    else:
        pool.idle.append((opened, conn))


def _pool(loop: asyncio.AbstractEventLoop, alias: str) -> _Connections:
    key = (os.getpid(), loop, alias)
    pool = _per_loop.get(key)
    if pool is None:
        close_all(only_ended=True)
        with _lock:
            pool = _per_loop.setdefault(key, _Connections(loop, settings.INLINE_RUNS_DB_THREADS))
    return pool


async def _connect(alias: str) -> Any:
    import psycopg

    wrapper = connections[alias]
    params = wrapper.get_connection_params()
    params.pop("cursor_factory", None)  # Django's is a sync cursor; the callers choose theirs
    with wrapper.wrap_database_errors:
        conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        try:
            # What Django's _configure_connection does to each new connection.
            timezone_name = wrapper.timezone_name
            if timezone_name and conn.info.parameter_status("TimeZone") != timezone_name:
                await conn.execute(wrapper.ops.set_time_zone_sql(), [timezone_name])
            if role := wrapper.settings_dict["OPTIONS"].get("assume_role"):
                await conn.execute(wrapper.ops.compose_sql("SET ROLE %s", [role]))
        except BaseException:
            await conn.close()
            raise
    return conn


def close_all(*, only_ended: bool = False) -> None:
    """Close the idle connections of every loop of this process (`only_ended`: of
    loops that have closed), from any thread: no I/O is awaited. A forked child only
    forgets its parent's: closing them would end the parent's sessions."""
    pid = os.getpid()
    with _lock:
        keys = [
            key for key, pool in _per_loop.items()
            if key[0] != pid or not only_ended or pool.loop.is_closed()
        ]
        ended = [(key[0] == pid, _per_loop.pop(key)) for key in keys]
    for ours, pool in ended:
        for _, conn in pool.idle if ours else ():
            if not conn.closed:
                conn.pgconn.finish()  # what AsyncConnection.close() does, without a loop
        pool.idle.clear()
