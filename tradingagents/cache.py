"""One Redis connection pool per process for Django's cache.

Django builds a cache object per thread, and under uvicorn every request runs in a
thread of its own, so the stock backend opened a new Redis connection for almost every
request that touched the cache (a throttle, a token lookup)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _pools: dict[tuple[int, str], redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = (os.getpid(), url)  # a forked worker must not share its parent's sockets
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                # Blocking: a burst of requests waits for a connection (`timeout` seconds)
                # instead of failing with "Too many connections".
                pool = cls._pools[key] = redis.BlockingConnectionPool.from_url(url, **kwargs)
            return pool


# The shared cache is an optimisation: when Redis is down or silent, callers read the
# database (or keep a process-local count) and go on. After a failure the cache is
# skipped for a few seconds, so an outage costs one failed round trip per process
# every CACHE_RETRY_SECONDS rather than one per request.
CACHE_RETRY_SECONDS = 5.0
_down_until = 0.0
_logger = logging.getLogger(__name__)


def _available() -> bool:
    return time.monotonic() >= _down_until


def _failed(operation: str, exc: Exception) -> None:
    global _down_until
    first = _available()
    _down_until = time.monotonic() + CACHE_RETRY_SECONDS
    if first:  # once per outage window, and only the class name: messages hold URLs
        _logger.warning("cache %s failed (%s); using the database for %.0f s", operation, type(exc).__name__, CACHE_RETRY_SECONDS)


def cache_available() -> bool:
    return _available()


def safe_get(key: str, default: Any = None) -> Any:
    from django.core.cache import cache

    if not _available():
        return default
    try:
        return cache.get(key, default)
    except Exception as exc:
        _failed("read", exc)
        return default


def safe_get_many(keys: list[str]) -> dict[str, Any]:
    """The cached values of `keys` (those it has) in one round trip; {} when the cache is down."""
    from django.core.cache import cache

    if not _available():
        return {}
    try:
        return cache.get_many(keys)
    except Exception as exc:
        _failed("read", exc)
        return {}


def safe_set(key: str, value: Any, timeout: float | None, *, always: bool = False) -> bool:
    """`always`: tried even inside the retry window, for writes that invalidate."""
    from django.core.cache import cache

    if not always and not _available():
        return False
    try:
        cache.set(key, value, timeout)
        return True
    except Exception as exc:
        _failed("write", exc)
        return False


def safe_delete_many(keys: list[str]) -> bool:
    """Always tried, even inside the retry window: a revoked token's entry must go as
    soon as Redis answers again."""
    from django.core.cache import cache

    try:
        cache.delete_many(keys)
        return True
    except Exception as exc:
        _failed("delete", exc)
        return False


class ResilientCache:
    """The shared cache while it answers, else a cache in this process's memory: for
    counters such as throttles, where failing open would be no limit at all and failing
    with the cache would refuse everyone."""

    def __init__(self) -> None:
        from django.core.cache.backends.locmem import LocMemCache

        self.local = LocMemCache("tradingagents-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})

    def get(self, key: str, default: Any = None) -> Any:
        from django.core.cache import cache

        if _available():
            try:
                return cache.get(key, default)
            except Exception as exc:
                _failed("read", exc)
        return self.local.get(key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        from django.core.cache import cache

        if _available():
            try:
                cache.set(key, value, timeout)
                return
            except Exception as exc:
                _failed("write", exc)
        self.local.set(key, value, timeout)

    def delete(self, key: str) -> None:
        from django.core.cache import cache

        self.local.delete(key)
        if _available():
            try:
                cache.delete(key)
            except Exception as exc:
                _failed("delete", exc)


# Reads from an event loop ------------------------------------------------------------

_loop_clients: dict[tuple[int, Any, str], Any] = {}
_loop_clients_lock = threading.Lock()


async def get_many_on_loop(keys: list[str]) -> dict[str, Any] | None:
    """cache.get_many(keys), from an async caller's event loop without a hop to a
    thread: a local-memory cache answers at once, Redis over an asyncio client of this
    loop (the values Django's own client stored, read back as it reads them). None
    when this cache cannot be read so (another backend, or Redis failing or in its
    retry window): the caller then goes the threads' way, which knows what to do."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        return cache.get_many(keys)
    if not isinstance(cache, RedisCache) or not _available():
        return None
    client = cache._cache  # Django's RedisCacheClient: its servers and its serializer
    try:
        values = await _loop_client(client._servers[0]).mget([cache.make_and_validate_key(key) for key in keys])
    except Exception as exc:
        _failed("read", exc)
        return None
    return {key: client._serializer.loads(value) for key, value in zip(keys, values) if value is not None}


def _loop_client(url: str) -> Any:
    """A redis.asyncio client for `url`, one per event loop (its connections belong to
    the loop that opened them); a silent server costs at most a second."""
    import asyncio

    import redis.asyncio
    from django.conf import settings

    loop = asyncio.get_running_loop()
    key = (os.getpid(), loop, url)
    client = _loop_clients.get(key)
    if client is None:
        with _loop_clients_lock:
            for ended in [k for k in _loop_clients if k[0] != key[0] or k[1].is_closed()]:
                del _loop_clients[ended]  # their sockets went with their loop
            # Blocking, as the threads' pool: a burst waits for a connection instead of
            # failing (which would take the cache for down).
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=settings.REDIS_POOL_TIMEOUT,
                socket_connect_timeout=1, socket_timeout=1,
            )
            client = _loop_clients[key] = redis.asyncio.Redis(connection_pool=pool)
    return client
