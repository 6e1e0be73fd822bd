"""Version keys: what lets a process keep data built from the database (an agent's
chain of models, a run's target, a token's user and permissions) and use it with no
query, yet never use it once the rows it was built from have changed.

Each kind of cached data has a name (CONFIG, AUTH). A cache entry remembers the
version of its name that was current before it was built; it is used only while that
version is still current. Signals on save and delete call `bump()`, which gives the
name a new random version, at once and again when the transaction commits (a reader
may have built from the old rows in between).

Where the versions live, so that every process sees a bump at once:
- with REDIS_URL, in Redis: one MGET per check (from an event loop over an asyncio
  client, so an async caller does not leave its loop);
- without it (the embedded set-up: one machine), in small files beside the project
  (VERSIONS_DIR): a check is a stat() per name. A management command's change reaches
  the server as fast as one made in the server itself.

When Redis cannot be read, `current()` answers None and callers build from the
database without keeping the result; what a process kept before it saw Redis fail is
not used after; a bump that could not be written is written with the next read that
succeeds. Every entry also ages out after CACHE_MAX_AGE_SECONDS, which bounds how long
a change can go unseen by another process when its bump is lost for good (the process
that made it ended while Redis was unreachable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

CONFIG = "config"  # agents, LLM configs, aliases, providers, tasks, assignments, presets, lineups
AUTH = "auth"  # API tokens, users, groups, permissions
NAMES = (CONFIG, AUTH)

Versions = dict[str, Any]  # name -> its current version

# After a Redis failure, versions are not read for this long: an outage costs one failed
# round trip per process every few seconds, not one per request.
RETRY_SECONDS = 5.0


def bump(*names: str) -> None:
    """Retire every cached entry of `names`, now and once the current transaction commits."""
    _backend().bump(names)
    transaction.on_commit(lambda: _backend().bump(names))


def current() -> Versions | None:
    """The current version of every name (one read), or None when they cannot be known now."""
    return _backend().current(NAMES)


async def acurrent() -> Versions | None:
    """current(), from an event loop without leaving it."""
    return await _backend().acurrent(NAMES)


class FileVersions:
    """Versions as files: a bump replaces the file (a new inode, a new mtime); a check
    stats it. For processes that share a disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def bump(self, names: tuple[str, ...]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            path = self.directory / name
            temporary = path.with_name(f".{name}.{uuid.uuid4().hex}")
            temporary.write_text(uuid.uuid4().hex)
            os.replace(temporary, path)

    def current(self, names: tuple[str, ...]) -> Versions | None:
        found: list[Any] = []
        for name in names:
            path = self.directory / name
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # never bumped: a first version, which any bump replaces
                self.bump((name,))
                stat = os.stat(path)
            found.append((stat.st_ino, stat.st_mtime_ns))
        return dict(zip(names, found, strict=True))

    async def acurrent(self, names: tuple[str, ...]) -> Versions | None:
        return self.current(names)


class RedisVersions:
    """Versions as Redis keys holding random values (a restarted Redis that lost them
    reads as unknown, never as an old version)."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._async_clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0
        # Bumps that could not be written: sent again with the next read that succeeds.
        self._pending: set[str] = set()
        # Counts the failures seen: part of every version read, so that nothing this
        # process cached before Redis failed is trusted after it answers again.
        self._epoch = 0

    @staticmethod
    def key(name: str) -> str:
        return f"tradingagents:version:{name}"

    def _new(self, names: Any) -> dict[str, str]:
        return {self.key(name): uuid.uuid4().hex for name in names}

    def bump(self, names: tuple[str, ...]) -> None:
        try:
            self.client.mset(self._new({*names, *self._pending}))
            self._pending.clear()
        except Exception as exc:
            self._pending.update(names)
            self._failed("write", exc)

    def current(self, names: tuple[str, ...]) -> Versions | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            if self._pending:
                self.client.mset(self._new(self._pending))
                self._pending.clear()
            values = self.client.mget([self.key(name) for name in names])
            if fresh := self._missing(names, values):
                self.client.mset(fresh)
        except Exception as exc:
            self._failed("read", exc)
            return None
        return self._known(names, values)

    async def acurrent(self, names: tuple[str, ...]) -> Versions | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            client = self._async_client()
            if self._pending:
                await client.mset(self._new(self._pending))
                self._pending.clear()
            values = await client.mget([self.key(name) for name in names])
            if fresh := self._missing(names, values):
                await client.mset(fresh)
        except Exception as exc:
            self._failed("read", exc)
            return None
        return self._known(names, values)

    def _known(self, names: tuple[str, ...], values: list[Any]) -> Versions | None:
        return {name: (self._epoch, value) for name, value in zip(names, values, strict=True)}

    def _missing(self, names: tuple[str, ...], values: list[Any]) -> dict[str, str]:
        """New values for the names Redis has none of (never set, or lost in a restart):
        unlike any version before. The caller writes them, then uses them."""
        fresh = self._new(name for name, value in zip(names, values, strict=True) if value is None)
        values[:] = [fresh.get(self.key(name), value) for name, value in zip(names, values, strict=True)]
        return fresh

    def _async_client(self) -> Any:
        """One asyncio client per event loop (its connections belong to that loop)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            with self._lock:
                for ended in [other for other in self._async_clients if other.is_closed()]:
                    del self._async_clients[ended]
                client = self._async_clients[loop] = redis.asyncio.Redis.from_url(
                    self.url, socket_connect_timeout=1, socket_timeout=1,
                )
        return client

    def _failed(self, operation: str, exc: Exception) -> None:
        self._epoch += 1
        first = time.monotonic() >= self._down_until
        self._down_until = time.monotonic() + RETRY_SECONDS
        if first:  # the class name only: messages hold URLs
            logger.warning("version %s failed (%s): caches read the database for %.0f s",
                           operation, type(exc).__name__, RETRY_SECONDS)


_backends: dict[tuple[int, str], FileVersions | RedisVersions] = {}


def _backend() -> FileVersions | RedisVersions:
    # Per process: a forked child must not share its parent's sockets.
    url = settings.REDIS_URL
    key = (os.getpid(), url or str(settings.VERSIONS_DIR))
    backend = _backends.get(key)
    if backend is None:
        backend = _backends[key] = RedisVersions(url) if url else FileVersions(Path(settings.VERSIONS_DIR))
    return backend


class VersionedCache:
    """A process-local LRU of values built from the database, each kept with the
    versions current before it was built and its build time; a value is used only
    while those versions are still current and it is younger than
    CACHE_MAX_AGE_SECONDS."""

    def __init__(self, names: tuple[str, ...], size: int) -> None:
        from collections import OrderedDict

        self.names = names
        self.size = size
        self._entries: OrderedDict[Any, tuple[tuple[Any, ...], float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, seen: Versions | None) -> Any | None:
        """The value kept for `key` if still current under `seen` (None: a miss)."""
        if seen is None:
            return None
        mine = tuple(seen[name] for name in self.names)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != mine or time.monotonic() - entry[1] > settings.CACHE_MAX_AGE_SECONDS:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key: Any, seen: Versions | None, value: Any) -> None:
        """Keep `value`, built from rows read after `seen` was."""
        if seen is None:
            return
        with self._lock:
            self._entries[key] = (tuple(seen[name] for name in self.names), time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def versions(self) -> Versions | None:
        return current()

    async def aversions(self) -> Versions | None:
        return await acurrent()
