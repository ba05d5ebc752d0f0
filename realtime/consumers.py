"""The one WebSocket endpoint ``/ws/``: public price stream plus ping.

Transport only: it joins groups and relays events published by services.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from realtime.groups import prices_group


class StreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.groups_joined: set[str] = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in list(self.groups_joined):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "subscribe" and content.get("channel") == "prices":
            group = prices_group()
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)
            await self.send_json({"type": "subscribed", "channel": "prices"})
        else:
            await self.send_json({"type": "error", "code": "bad_message", "message": "Unknown message."})

    async def relay(self, message: dict) -> None:
        await self.send_json(message["event"])
