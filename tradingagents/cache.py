"""One Redis connection pool per process for Django's cache.

Django builds a cache object per thread, and under daphne every request runs in a
thread of its own, so the stock backend opened a new Redis connection for almost every
request that touched the cache (a throttle, a token lookup)."""

from __future__ import annotations

import os
import threading
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
                pool = cls._pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
            return pool
