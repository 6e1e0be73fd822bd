"""Under ASGI an async API call hops to no thread of its own, and Django's request
signals still reach every receiver."""

from __future__ import annotations

import asgiref.sync
import httpx
import pytest
from django.core.signals import request_finished, request_started

from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(reader, agent) -> str:
    return api_token_create(user=reader, name="asgi")[1]


@pytest.fixture
def hops(monkeypatch) -> list[object]:
    """Every sync_to_async adapter made from now on (a thread hop each when called)."""
    made: list[object] = []
    original = asgiref.sync.SyncToAsync.__init__

    def counting(self, func, *args, **kwargs):
        made.append(func)
        original(self, func, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync.SyncToAsync, "__init__", counting)
    return made


async def _get(path: str, token: str) -> httpx.Response:
    from tradingagents.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path, headers={"Authorization": f"Bearer {token}"})


async def test_an_async_api_call_with_a_cached_token_hops_to_no_thread(token, agent, hops):
    path = f"/api/v1/agents/{agent.pk}/llm-configs"
    assert (await _get(path, token)).status_code == 200  # the token is now cached
    hops.clear()

    response = await _get(path, token)

    assert response.status_code == 200 and response.json() == []
    assert hops == []


async def test_request_signals_still_reach_receivers_of_their_own(token, agent, hops):
    seen: list[str] = []

    def started(**kwargs):
        seen.append("started")

    def finished(**kwargs):
        seen.append("finished")

    request_started.connect(started, dispatch_uid="test-asgi-started")
    request_finished.connect(finished, dispatch_uid="test-asgi-finished")
    try:
        response = await _get(f"/api/v1/agents/{agent.pk}/llm-configs", token)
    finally:
        request_started.disconnect(dispatch_uid="test-asgi-started")
        request_finished.disconnect(dispatch_uid="test-asgi-finished")

    assert response.status_code == 200
    assert seen == ["started", "finished"]
    assert len(hops) >= 2  # then Django's own way: the receivers run in a thread


async def test_a_sync_api_view_still_runs_and_answers_under_asgi(token, agent):
    response = await _get("/api/v1/agents", token)

    assert response.status_code == 200
    assert [a["name"] for a in response.json()["items"]] == [agent.name]


def test_a_sync_views_connection_is_closed_when_its_request_ends(token, agent):
    """A sync view opens its connection in the request's own thread, where only
    request_finished closes it (or gives it back to the pool: lost, the pool runs dry
    after a few dozen sync requests). Served as a server serves it: from a loop in a
    thread that has touched no connection."""
    import asyncio
    import threading

    from django.db.backends.signals import connection_created

    opened: list = []
    codes: list[int] = []

    def created(sender, connection, **kwargs):
        opened.append(connection)

    async def three_requests() -> None:
        for _ in range(3):
            codes.append((await _get("/api/v1/agents", token)).status_code)

    connection_created.connect(created, dispatch_uid="test-asgi-created")
    try:
        server = threading.Thread(target=asyncio.run, args=(three_requests(),))
        server.start()
        server.join(60)
    finally:
        connection_created.disconnect(dispatch_uid="test-asgi-created")

    assert codes == [200, 200, 200]
    assert len(opened) >= 3  # a request thread each
    assert [wrapper.connection for wrapper in opened] == [None] * len(opened)
