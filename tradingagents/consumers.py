"""/ws/events/ — live topic events (DESIGN.md §3 "Websocket").

Client → `{"action": "auth", "token": "..."}` (when the connection carried neither a
session nor `?token=`), `{"action": "subscribe"|"unsubscribe", "topics": [...]}`.
Server → event frames `{"topic", "event", "id", "data", "ts"}`; replies
`{"event": "authenticated"|"subscribed"|"unsubscribed", ...}`; errors
`{"event": "error", "detail": "...", ...}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from tradingagents import events

logger = logging.getLogger(__name__)

# Close codes (the 4000-4999 range is for applications).
CLOSE_UNAUTHENTICATED = 4401
# RFC 6455's "try again later": the channel layer (Redis) cannot be reached.
CLOSE_TRY_AGAIN_LATER = 1013
# An unauthenticated socket may stay open this long waiting for its auth message.
AUTH_TIMEOUT_SECONDS = 10.0


@database_sync_to_async
def user_for_token(token: str) -> AbstractBaseUser | None:
    return _user_for_token(token)


@database_sync_to_async
def still_allowed(user: AbstractBaseUser, token: str | None) -> bool:
    """Whether the credentials a socket was opened with still hold: the token is not
    revoked and its user (or the session's user) is still active."""
    if token:
        return _user_for_token(token) is not None
    return type(user)._default_manager.filter(pk=user.pk, is_active=True).exists()


def _user_for_token(token: str) -> AbstractBaseUser | None:
    """The active user owning a live (not revoked) API token, else None."""
    from tradingagents.auth import user_for_token as token_user

    if not isinstance(token, str) or not token:
        return None
    from django.contrib.auth import get_user_model

    user = token_user(token)  # one lookup for the API, the gateway and sockets: cached
    return get_user_model()._default_manager.filter(pk=user.pk).first() if user is not None else None


class TopicThrottle:
    """At most `rate` frames per second for one topic of one connection.

    Below the limit a frame goes out at once. Once `rate - 1` frames went out in the
    last second, further events are held, keyed by object: a newer event of an object
    replaces its held one, so each object's latest state is kept and no object's events
    are ever reordered. Held events go out when the burst has been quiet for 1/rate s
    (or has lasted a second), as far as the window allows; the last slot of the window
    is kept for them, so a burst costs at most `rate` frames per second and ends with
    the latest state.
    """

    def __init__(self, rate: int, send: Callable[[str], Awaitable[None]]) -> None:
        self.rate = max(1, rate)
        self.window = 1.0
        self.quiet = 1.0 / self.rate
        self._send = send
        self._sent: deque[float] = deque()
        self._held: OrderedDict[str, str] = OrderedDict()
        self._held_since = 0.0
        self._last_event = 0.0
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task | None = None

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    async def offer(self, obj_id: str, text: str) -> None:
        async with self._lock:
            now = time.monotonic()
            self._prune(now)
            if not self._held and len(self._sent) < self.rate - 1:
                self._sent.append(now)
                await self._send(text)
                return
            if not self._held:
                self._held_since = now
            self._held.pop(obj_id, None)
            self._held[obj_id] = text
            self._last_event = now
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while True:
            async with self._lock:
                if not self._held:
                    return
                now = time.monotonic()
                self._prune(now)
                ready_at = min(self._last_event + self.quiet, self._held_since + self.window)
                slot_at = now if len(self._sent) < self.rate else self._sent[0] + self.window
                wait = max(ready_at, slot_at) - now
                if wait <= 0:
                    while self._held and len(self._sent) < self.rate:
                        _, text = self._held.popitem(last=False)
                        self._sent.append(now)
                        await self._send(text)
                    self._held_since = now
                    continue
            await asyncio.sleep(wait)

    def forget(self) -> None:
        self._held.clear()
        if self._flusher is not None:
            self._flusher.cancel()


class EventsHub:
    """The subscriptions of every /ws/events/ socket of this process (one per event loop).

    The hub, not each socket, is in the channel layer's topic groups, with one channel
    of its own: an event crosses Redis once per process, is decoded once, and is handed
    to each local subscriber by a plain call — not via a queue, a decode and a task
    wake-up per socket, which made fan-out to 1,000 sockets cost tens of milliseconds.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.subscribers: dict[str, set[EventsConsumer]] = {}
        self._receiver: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def join(self, topic: str, subscriber: Any) -> None:
        async with self._lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self._receiver = asyncio.create_task(self._receive_forever(self.channel))
            members = self.subscribers.setdefault(topic, set())
            if not members:
                await self.layer.group_add(events.group_name(topic), self.channel)
            members.add(subscriber)

    async def leave(self, topic: str, subscriber: Any) -> None:
        async with self._lock:
            members = self.subscribers.get(topic)
            if not members or subscriber not in members:
                return
            members.discard(subscriber)
            if not members:
                del self.subscribers[topic]
                await self.layer.group_discard(events.group_name(topic), self.channel)
            if not self.subscribers and self._receiver is not None:
                self._receiver.cancel()  # the layer drops the channel's subscription
                self._receiver = None
                self.channel = None

    async def _receive_forever(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            for subscriber in list(self.subscribers.get(message.get("topic"), ())):
                try:
                    await subscriber.deliver(message)
                except Exception:  # one broken socket must not starve the others
                    logger.exception("could not deliver an event to a websocket")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventsHub] = weakref.WeakKeyDictionary()


def events_hub() -> EventsHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = EventsHub(get_channel_layer())
    return hub


class EventsConsumer(AsyncJsonWebsocketConsumer):
    # A socket has no channel of its own: the hub is what joins the topic groups. So
    # no alias of CHANNEL_LAYERS names this one, Channels gives the socket no layer,
    # and a handshake costs no Redis SUBSCRIBE (and needs no Redis at all).
    channel_layer_alias = "events-hub-only"

    async def connect(self) -> None:
        events.register_consumer_loop(asyncio.get_running_loop())
        self.user: AbstractBaseUser | None = None
        self.topics: set[str] = set()
        self.throttles: dict[str, TopicThrottle] = {}
        self._auth_timer: asyncio.Task | None = None
        self._recheck: asyncio.Task | None = None
        self._token: str | None = None

        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated and session_user.is_active:
            self.user = session_user
            await self.accept()
            self._start_recheck()
            return
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if token:
            self.user = await user_for_token(token)
            if self.user is None:
                # Accepted, then closed with 4401 and a reason, as every other refusal:
                # a refused handshake is an HTTP 403 that clients cannot tell apart.
                await self.accept()
                await self._refuse("Invalid, revoked or inactive API token.")
                return
            self._token = token
            await self.accept()
            self._start_recheck()
            return
        # No credentials yet: the first message must be {"action": "auth", ...}.
        await self.accept()
        self._auth_timer = asyncio.create_task(self._close_unless_authenticated())

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_SECONDS)
        if self.user is None:
            await self._refuse("Authentication timed out.")

    def _start_recheck(self) -> None:
        self._recheck = asyncio.create_task(self._recheck_forever())

    async def _recheck_forever(self) -> None:
        # A revoked token or a deactivated account loses its live feed within
        # WS_REAUTH_SECONDS, not only at the next connect.
        while True:
            await asyncio.sleep(settings.WS_REAUTH_SECONDS)
            if not await still_allowed(self.user, self._token):
                await self._refuse("Your API token was revoked or your account deactivated.")
                return

    async def _refuse(self, detail: str) -> None:
        await self.send_json({"event": "error", "detail": detail})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "_auth_timer", None), getattr(self, "_recheck", None)):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for topic in list(getattr(self, "topics", ())):
            await self._leave(topic)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json({"event": "error", "detail": "Send a JSON object with an \"action\"."})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        action = content.get("action")
        if self.user is None:
            if action != "auth":
                await self._refuse('Authenticate first: {"action": "auth", "token": "..."}.')
                return
            self.user = await user_for_token(content.get("token"))
            if self.user is None:
                await self._refuse("Invalid, revoked or inactive API token.")
                return
            self._token = content["token"]
            self._start_recheck()
            await self.send_json({"event": "authenticated"})
            return
        if action == "auth":
            await self.send_json({"event": "authenticated"})
        elif action in ("subscribe", "unsubscribe"):
            await self._change_subscriptions(action, content.get("topics"))
        else:
            await self.send_json({
                "event": "error",
                "detail": f"Unknown action {action!r}; use \"subscribe\" or \"unsubscribe\".",
            })

    async def _change_subscriptions(self, action: str, topics: Any) -> None:
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            await self.send_json({"event": "error", "detail": '"topics" must be a list of topic names.'})
            return
        unknown = [t for t in topics if t not in events.TOPICS]
        if unknown:
            await self.send_json({
                "event": "error",
                "detail": f"Unknown topic(s): {', '.join(unknown)}. Topics: {', '.join(events.TOPICS)}.",
                "topics": unknown,
            })
        wanted = list(dict.fromkeys(t for t in topics if t in events.TOPICS))
        for topic in wanted:
            if action == "subscribe" and topic not in self.topics:
                if not await self._join(topic):
                    return
            elif action == "unsubscribe" and topic in self.topics:
                await self._leave(topic)
        await self.send_json({"event": f"{action}d", "topics": sorted(self.topics)})
        if action == "subscribe":
            # Joined first, then the current state: an event published in between is
            # delivered too, and the client converges whatever it missed while away.
            for topic in wanted:
                await self._send_snapshot(topic)

    async def _join(self, topic: str) -> bool:
        self.topics.add(topic)
        self.throttles[topic] = TopicThrottle(settings.EVENTS_MAX_PER_SECOND, self._send_text)
        try:
            await events_hub().join(topic, self)
        except Exception:  # the channel layer (Redis) is down: the client comes back later
            logger.warning("could not subscribe a websocket to %s: the channel layer failed", topic, exc_info=True)
            self.topics.discard(topic)
            self.throttles.pop(topic).forget()
            await self.send_json({
                "event": "error",
                "detail": "Live events are unavailable right now; try again in a few seconds.",
            })
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return False
        return True

    async def _send_snapshot(self, topic: str) -> None:
        try:
            frames = await database_sync_to_async(events.snapshot_frames)(topic)
        except Exception:  # the live feed goes on without it
            logger.exception("could not read the %s snapshot", topic)
            return
        throttle = self.throttles.get(topic)
        for message in frames:
            if throttle is not None:
                await throttle.offer(message["id"], message["text"])

    async def _leave(self, topic: str) -> None:
        self.topics.discard(topic)
        throttle = self.throttles.pop(topic, None)
        if throttle is not None:
            throttle.forget()
        await events_hub().leave(topic, self)

    async def _send_text(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except OSError:
            # The client has gone (uvicorn's ClientDisconnected) while frames were still
            # on their way (a throttle's flush, a snapshot): its disconnect follows.
            pass

    async def deliver(self, message: dict[str, Any]) -> None:
        """Called by the hub for each event of a topic this socket subscribed to."""
        throttle = self.throttles.get(message["topic"])
        if throttle is not None:  # an event still in flight after unsubscribing is dropped
            await throttle.offer(message["id"], message["text"])
