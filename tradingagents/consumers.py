from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """/ws/events/ — filled in by the live events issue; refuses everyone until then."""

    async def connect(self) -> None:
        await self.close()
