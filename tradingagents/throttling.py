"""Per-user request throttles that keep counting while Redis is down."""

from __future__ import annotations

from ninja.throttling import UserRateThrottle as NinjaUserRateThrottle

from tradingagents.cache import ResilientCache

_cache = ResilientCache()


class UserRateThrottle(NinjaUserRateThrottle):
    """ninja's per-user throttle on the shared cache, counting in this process while
    the cache is unreachable (tradingagents.cache.ResilientCache)."""

    cache = _cache  # type: ignore[assignment]
