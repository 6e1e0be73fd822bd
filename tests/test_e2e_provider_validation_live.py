"""End to end on PostgreSQL + Redis: uvicorn and a separate `rundramatiq` process; a
websocket client subscribed to `providers` sees a provider created through the API go
pending → validating → valid against a loopback fake vendor."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from channels.db import database_sync_to_async

from providers.models import LLMProvider
from tests.conftest import CANARY_KEY
from tests.e2e_support import E2E_MARKS, servers  # noqa: F401  (fixture)
from tests.fake_vendor import FakeVendor
from tradingagents.services import api_token_create

pytestmark = E2E_MARKS


@pytest.fixture
def token(superuser) -> str:
    return api_token_create(user=superuser, name="e2e")[1]


@pytest.fixture
def vendor():
    with FakeVendor() as vendor:
        yield vendor


async def test_a_provider_created_through_the_api_goes_pending_validating_valid_live(servers, token, vendor):
    import websockets

    port = servers
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/events/?token={token}") as ws:
        await ws.send(json.dumps({"action": "subscribe", "topics": ["providers"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"event": "subscribed", "topics": ["providers"]}

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/api/v1/providers",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "fake-openai", "provider_type": "openai", "base_url": vendor.url + "/v1",
                      "api_key": CANARY_KEY},
            )
        assert response.status_code == 201, response.text
        provider_id = response.json()["id"]
        assert response.json()["validation_status"] == "pending"

        statuses: list[str] = []
        frames: list[str] = []

        async def until_valid() -> None:
            while not statuses or statuses[-1] != "valid":
                text = await ws.recv()
                frames.append(text)
                frame = json.loads(text)
                if frame.get("topic") == "providers" and frame.get("id") == provider_id:
                    status = frame["data"]["validation_status"]
                    if not statuses or statuses[-1] != status:
                        statuses.append(status)

        await asyncio.wait_for(until_valid(), 5)

    assert statuses == ["pending", "validating", "valid"]
    assert all(CANARY_KEY not in text for text in frames)
    stored = await database_sync_to_async(LLMProvider.objects.get)(pk=provider_id)
    assert stored.validation_status == "valid"
    assert stored.available_models
    assert [r.path for r in vendor.requests] == ["/v1/models"]
