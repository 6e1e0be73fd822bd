"""What the tests of database work from the event loop share (tradingagents.loop_db)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings

postgresql_only = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="SQLite has no async driver: its work always goes to the database threads",
)


@pytest.fixture(autouse=True)
def local_cache(settings):
    """Tokens and permissions in the process's memory (the embedded default's cache):
    the loop then needs no cache server to know what a caller may do."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "on-loop"}}
    from django.core.cache import cache

    cache.clear()


def count_hops(monkeypatch, module: Any, name: str) -> list[str]:
    """The name of each function sent to a database thread through `module.name`
    (runner._db or what imported it) from now on."""
    called: list[str] = []
    db_call = getattr(module, name)

    async def counting(fn, /, *args, **kwargs):
        called.append(fn.__name__)
        return await db_call(fn, *args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return called
