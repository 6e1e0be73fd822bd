"""A throw-away redis-server on a loopback port of its own that a test can stop and
start again mid-test (the fault suite's Redis outages are real, not mocked)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.test import override_settings


def reserved_port() -> socket.socket:
    """A socket bound to a loopback port the kernel picks (port 0), with SO_REUSEADDR and
    never listening. While it is open no other process can bind that port, except one
    that also sets SO_REUSEADDR and names the port (redis-server does both); on Linux,
    that one may listen there, as no socket listens yet. So the port stays this
    server's from its choice to its last restart, with connections refused while it is
    stopped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class RedisServer:
    def __init__(self) -> None:
        self._reservation = reserved_port()
        self.port: int = self._reservation.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="ta-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        self._reservation.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def redis_cache_settings(url: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "tradingagents",
            "OPTIONS": {"pool_class": "tradingagents.cache.SharedConnectionPool"},
        }
    }


@contextmanager
def redis_cache(server: RedisServer) -> Iterator[None]:
    """Django's cache on this server, with the cache's retry window reset around it."""
    from tradingagents import cache

    cache._down_until = 0.0
    with override_settings(CACHES=redis_cache_settings(server.url)):
        try:
            yield
        finally:
            cache._down_until = 0.0
