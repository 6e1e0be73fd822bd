"""At most EVENTS_MAX_PER_SECOND frames per topic per connection; a burst is
coalesced so the latest state of each object arrives, never out of order."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.ws_support import next_event, open_socket, subscribe
from tradingagents import events
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
async def socket(token, settings):
    settings.EVENTS_MAX_PER_SECOND = 10
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    await subscribe(communicator, "agents")
    yield communicator
    await communicator.disconnect()


@database_sync_to_async
def burst(updates: list[tuple[int, int]]) -> None:
    for obj_id, seq in updates:
        events.publish("agents", "updated", obj_id, {"id": obj_id, "seq": seq})


async def frames_until(socket, done) -> list[dict]:
    frames: list[dict] = []
    while not frames or not done(frames):
        frames.append(await next_event(socket, timeout=5))
    return frames


async def test_a_burst_of_100_updates_of_one_object_yields_at_most_10_frames_ending_with_the_final_state(socket):
    await burst([(7, seq) for seq in range(1, 101)])

    frames = await frames_until(socket, lambda fs: fs[-1]["data"]["seq"] == 100)

    assert len(frames) <= 10
    seqs = [f["data"]["seq"] for f in frames]
    assert seqs == sorted(seqs)
    assert seqs[-1] == 100
    assert await socket.receive_nothing(timeout=0.3)


async def test_a_short_sequence_below_the_limit_arrives_whole_and_in_order(socket):
    await burst([(7, 1), (7, 2), (7, 3)])

    frames = [await next_event(socket) for _ in range(3)]

    assert [f["data"]["seq"] for f in frames] == [1, 2, 3]


async def test_a_burst_over_several_objects_delivers_each_ones_latest_state_in_order(socket):
    await burst([(obj_id, seq) for seq in range(1, 41) for obj_id in (1, 2, 3)])

    latest: dict[int, int] = {}

    def all_final(frames: list[dict]) -> bool:
        frame = frames[-1]
        assert frame["data"]["seq"] > latest.get(frame["id"], 0), "an object's events arrived out of order"
        latest[frame["id"]] = frame["data"]["seq"]
        return latest == {1: 40, 2: 40, 3: 40}

    frames = await frames_until(socket, all_final)

    assert len(frames) <= 10 + 3
    assert latest == {1: 40, 2: 40, 3: 40}


async def test_the_limit_applies_per_topic(socket):
    await subscribe(socket, "tasks")

    @database_sync_to_async
    def both_topics() -> None:
        for seq in range(1, 31):
            events.publish("agents", "updated", 1, {"id": 1, "seq": seq})
        events.publish("tasks", "updated", 5, {"id": 5, "seq": 1})

    await both_topics()
    frames = await frames_until(socket, lambda fs: any(f["topic"] == "tasks" for f in fs))

    # The busy agents topic does not hold back the quiet tasks topic.
    assert sum(f["topic"] == "agents" for f in frames) <= 9


async def test_frames_held_for_a_client_that_has_gone_are_dropped_without_an_error():
    """A throttle still flushing when the client disconnects (uvicorn raises
    ClientDisconnected, an OSError, on the send) ends quietly: no task exception."""
    import asyncio

    from tradingagents.consumers import EventsConsumer, TopicThrottle

    async def gone(message):
        raise ConnectionResetError("client disconnected")

    consumer = EventsConsumer()
    consumer.base_send = gone
    throttle = TopicThrottle(2, consumer._send_text)
    for n in range(5):
        await throttle.offer(str(n), f"frame {n}")  # the first is sent at once, the rest held
    await asyncio.wait_for(throttle._flusher, timeout=3)

    assert throttle._flusher.exception() is None
    assert not throttle._held
