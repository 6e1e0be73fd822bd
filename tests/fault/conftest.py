"""The fault suite: real redis-server processes stopped and started mid-test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault.redis_support import RedisServer, redis_cache, running_redis


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/fault/" in str(item.path):
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def cache_on_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    with redis_cache(redis_server):
        yield redis_server
