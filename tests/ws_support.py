"""Helpers for websocket tests of /ws/events/."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from tradingagents.asgi import application


async def open_socket(
    *, token: str | None = None, cookie: str | None = None, origin: str | None = None
) -> tuple[WebsocketCommunicator, bool, Any]:
    path = "/ws/events/" + (f"?token={token}" if token else "")
    headers = [(b"cookie", cookie.encode())] if cookie else []
    if origin:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=3)
    return communicator, connected, code


async def subscribe(communicator: WebsocketCommunicator, *topics: str) -> dict[str, Any]:
    await communicator.send_json_to({"action": "subscribe", "topics": list(topics)})
    return await communicator.receive_json_from(timeout=3)


async def next_event(communicator: WebsocketCommunicator, timeout: float = 3) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=timeout))
