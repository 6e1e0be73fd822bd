"""While the channel layer's Redis is down, /ws/events/ still shakes hands (a socket
needs no channel of its own: the process's hub is what joins the topic groups), and a
subscription that cannot reach Redis is refused in a frame and a clean close 1013 (try
again later), never an HTTP 500 or a crash. Once Redis is back, a new socket subscribes
and gets events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.test import override_settings

from tests.fault.redis_support import RedisServer
from tests.ws_support import next_event, open_socket, subscribe
from tradingagents import consumers, events
from tradingagents.consumers import CLOSE_TRY_AGAIN_LATER
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer_on_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    layers = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                          "CONFIG": {"hosts": [redis_server.url]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        consumers._hubs.clear()
        try:
            yield redis_server
        finally:
            channel_layers.backends.clear()
            consumers._hubs.clear()


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


async def test_a_socket_opened_while_redis_is_down_is_answered_and_closed_cleanly_on_subscribe(
    layer_on_redis, token
):
    layer_on_redis.stop()

    communicator, connected, _ = await open_socket(token=token)
    assert connected  # no HTTP 500 at the handshake
    await communicator.send_json_to({"action": "subscribe", "topics": ["providers"]})

    frame = await communicator.receive_json_from(timeout=10)
    assert frame["event"] == "error"
    assert "try again" in frame["detail"].lower()
    assert "redis" not in frame["detail"].lower() and "6379" not in frame["detail"]
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER}

    layer_on_redis.start()
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    assert await subscribe(communicator, "agents") == {"event": "subscribed", "topics": ["agents"]}
    await asyncio.sleep(0.2)  # the hub's SUBSCRIBE reaches Redis before the event is published
    await sync_to_async(events._publisher.submit)("agents", "updated", 7, {"name": "trader"})
    event = await next_event(communicator, timeout=5)
    assert (event["topic"], event["event"], event["id"]) == ("agents", "updated", 7)
    await communicator.disconnect()
