"""events.publish(): after commit, in order, never waiting for subscribers."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from tests.ws_support import next_event, open_socket, subscribe
from tradingagents import events
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
async def socket(token):
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    await subscribe(communicator, "tasks")
    yield communicator
    await communicator.disconnect()


class Rollback(Exception):
    pass


async def test_an_event_published_in_a_rolled_back_transaction_is_never_sent(socket):
    @database_sync_to_async
    def publish_then_roll_back() -> None:
        try:
            with transaction.atomic():
                events.publish("tasks", "updated", 1, {"id": 1, "state": "rolled back"})
                raise Rollback
        except Rollback:
            pass
        events.publish("tasks", "updated", 1, {"id": 1, "state": "committed"})

    await publish_then_roll_back()

    assert (await next_event(socket))["data"]["state"] == "committed"
    assert await socket.receive_nothing(timeout=0.3)


async def test_an_event_waits_for_the_commit_of_its_transaction(socket):
    committed = threading.Event()
    may_commit = threading.Event()

    @database_sync_to_async
    def publish_in_a_long_transaction() -> None:
        with transaction.atomic():
            events.publish("tasks", "created", 2, {"id": 2})
            may_commit.wait(5)
        committed.set()

    pending = asyncio.ensure_future(publish_in_a_long_transaction())
    assert await socket.receive_nothing(timeout=0.3)
    may_commit.set()
    frame = await next_event(socket)
    await pending

    assert committed.is_set()
    assert (frame["event"], frame["id"]) == ("created", 2)


async def test_publishing_from_async_code_works(socket):
    events.publish("tasks", "deleted", 3, {"id": 3})

    assert (await next_event(socket))["event"] == "deleted"


def test_an_unknown_topic_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown topic 'weather'"):
        events.publish("weather", "updated", 1, {})


def test_publishing_returns_before_a_stuck_layer_has_sent_anything(monkeypatch):
    send_started = threading.Event()
    release = threading.Event()
    sent: list[dict] = []

    class StuckLayer:
        async def group_send(self, group: str, message: dict) -> None:
            send_started.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
            sent.append(message)

    monkeypatch.setattr(events, "get_channel_layer", lambda: StuckLayer())
    publisher = events._Publisher()
    monkeypatch.setattr(events, "_publisher", publisher)

    events.publish("runs", "run.queued", 9, {"id": 9})
    events.publish("runs", "run.started", 9, {"id": 9})
    returned_with = list(sent)

    assert send_started.wait(5)
    release.set()
    publisher.drain()
    assert returned_with == []
    assert [m["id"] for m in sent] == ["9", "9"]
    assert '"run.queued"' in sent[0]["text"] and '"run.started"' in sent[1]["text"]
