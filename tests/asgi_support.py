"""An inline run and a gateway call, as a client of the ASGI application sends them,
and the PostgreSQL-only mark."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from django.db import connection

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a PostgreSQL server's sessions are what this test ends",
)

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
