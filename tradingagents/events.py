"""Publishing live events to websocket subscribers (DESIGN.md §3 "Websocket").

`publish()` only registers an on-commit hook; when it fires, the event is handed to
an event loop with `call_soon_threadsafe` and the caller moves on. The loop sends the
events one at a time, in order, to the channel layer group of the topic:

- on the Redis pub/sub layer, a daemon thread of this process runs its own loop (one
  PUBLISH per event, whatever the number of subscribers; Redis fans out to the server
  processes, and each one's EventsHub to its sockets — see consumers.py);
- on the in-memory layer, subscribers live on the loop of this process's server, so
  the events go to that loop (registered by the consumer when it connects). With no
  such loop there is nobody in this process to tell, and the event is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

TOPICS = ("agents", "tasks", "providers", "llm_configs", "runs", "sessions", "analyses", "experiments")
# The channel layer message type; the consumer's handler is `events_message`.
MESSAGE_TYPE = "events.message"


def group_name(topic: str) -> str:
    return f"events.{topic}"


def publish(topic: str, event: str, obj_id: int | str, data: dict[str, Any]) -> None:
    """Publish `event` about object `obj_id` on `topic` after the current transaction
    commits. Never waits for subscribers. `data` must not hold secrets."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; topics are {', '.join(TOPICS)}")
    data = dict(data)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        transaction.on_commit(lambda: _publisher.submit(topic, event, obj_id, data))
    else:
        # Async code holds no Django transaction open (the ORM runs in sync threads),
        # and on_commit would refuse to run on an event loop.
        _publisher.submit(topic, event, obj_id, data)


def frame(
    topic: str, event: str, obj_id: int | str, data: dict[str, Any], ts: datetime | None = None
) -> dict[str, Any]:
    """The channel layer message for one event: the client frame already encoded as
    text, so N subscribers cost one encoding, plus what the consumer needs to coalesce."""
    ts = ts or timezone.now()
    text = json.dumps(
        {"topic": topic, "event": event, "id": obj_id, "data": data, "ts": ts.isoformat()},
        cls=DjangoJSONEncoder,
    )
    return {"type": MESSAGE_TYPE, "topic": topic, "id": str(obj_id), "text": text}


# What a (re)subscribing socket is sent first, per topic: the current state of the
# objects whose events it may have missed while it was away (a reconnect, or a Redis
# outage that swallowed events). Registered by the app that owns the topic.
Snapshot = Callable[[], list[tuple[str, "int | str", dict[str, Any]]]]
_snapshots: dict[str, Snapshot] = {}


def register_snapshot(topic: str, snapshot: Snapshot) -> None:
    """`snapshot()` returns (event, id, data) for each object to re-send."""
    _snapshots[topic] = snapshot


def snapshot_frames(topic: str) -> list[dict[str, Any]]:
    """The frames of `topic`'s snapshot (a database read: call from a sync thread)."""
    provider = _snapshots.get(topic)
    if provider is None:
        return []
    return [frame(topic, event, obj_id, data) for event, obj_id, data in provider()]


def register_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the consumer: where in-process (in-memory layer) subscribers live."""
    _publisher.consumer_loop = loop


class _Publisher:
    def __init__(self) -> None:
        self.consumer_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._tails: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
            weakref.WeakKeyDictionary()
        )

    def submit(self, topic: str, event: str, obj_id: int | str, data: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        loop = self._loop_for(layer)
        if loop is None:
            return
        try:
            # ts: when the change was committed, not when it reached the layer.
            item = (topic, event, obj_id, data, timezone.now())
            loop.call_soon_threadsafe(self._put, loop, layer, item)
        except RuntimeError:  # the loop has closed: nobody left to tell
            logger.debug("event %s.%s dropped: its loop is closed", topic, event)

    def _loop_for(self, layer: Any) -> asyncio.AbstractEventLoop | None:
        if isinstance(layer, InMemoryChannelLayer):
            loop = self.consumer_loop
            return loop if loop is not None and not loop.is_closed() else None
        with self._lock:
            if self._own_loop is None or self._own_loop.is_closed():
                self._own_loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._own_loop.run_forever, name="events-publisher", daemon=True
                ).start()
            return self._own_loop

    def _put(self, loop: asyncio.AbstractEventLoop, layer: Any, item: tuple) -> None:
        # Runs on `loop`. Each send waits for the one before it, so events leave in
        # publishing order; when all are sent no task is left behind.
        previous = self._tails.get(loop)
        self._tails[loop] = loop.create_task(self._send_after(previous, layer, item))

    @staticmethod
    async def _send_after(previous: asyncio.Task | None, layer: Any, item: tuple) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        topic, event, obj_id, data, ts = item
        try:
            await layer.group_send(group_name(topic), frame(topic, event, obj_id, data, ts))
        except Exception:
            logger.exception("could not publish %s.%s for %s", topic, event, obj_id)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until this process's own publisher loop has sent what it was given
        (benchmarks and tests; publishing itself never waits)."""
        loop = self._own_loop
        if loop is None:
            return

        async def last_sent() -> None:
            tail = self._tails.get(loop)
            if tail is not None:
                await asyncio.wait([tail])

        asyncio.run_coroutine_threadsafe(last_sent(), loop).result(timeout)


_publisher = _Publisher()
