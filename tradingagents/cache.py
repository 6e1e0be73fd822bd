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
