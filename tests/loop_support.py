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


# An inline run and a gateway call, as a client of the ASGI application sends them ----

RUN = {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}}
GATEWAY_AGENT = "gateway-trader"


@pytest.fixture
def run_and_call_token(editor, assignment, offline_config, vendor_provider) -> str:
    """An API token that may start `RUN` and call GATEWAY_AGENT (on the loopback vendor)."""
    from tests.gateway_support import make_agent
    from tradingagents.services import api_token_create

    make_agent(GATEWAY_AGENT, vendor_provider, "vendor-a")
    return api_token_create(user=editor, name="run-and-call")[1]


async def post(token: str, path: str, body: dict) -> Any:
    import json

    import httpx

    from tradingagents.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.post(path, content=json.dumps(body), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        })


async def run_inline(token: str) -> Any:
    return await post(token, "/api/v1/runs?wait=true", RUN)


async def chat(token: str) -> Any:
    from tests.gateway_support import URL, user_message

    return await post(token, URL, {"model": GATEWAY_AGENT, "messages": user_message()})
