"""Alpaca's trading stream, ``/stream`` (docs/alpaca.md): what alpaca-py's ``TradingStream`` and
other Alpaca clients speak, over the same per-user event log as ``/ws/``.

Client frames are JSON, in text or binary frames (Alpaca's own server sends binary ones):
``{"action": "authenticate", "data": {"key_id", "secret_key"}}`` (or ``{"action": "auth",
"key", "secret"}``) is answered by the very next frame, ``{"stream": "authorization", "data":
{"status": "authorized"|"unauthorized", "action": "authenticate"}}`` (nothing is sent before it;
an unauthorized socket is closed after it); ``{"action": "listen", "data": {"streams":
["trade_updates"]}}`` by ``{"stream": "listening", "data": {"streams": [...]}}``. Then every
committed order event of the user is relayed as ``{"stream": "trade_updates", "data": {...}}``,
mapped by the ``trade_updates`` hook (trading implements it). Socket caps, the frame size limit and
the message rate are ``/ws/``'s; revoking the API key closes the socket (4001); a socket not
authenticated within ``WS_IDLE_TIMEOUT_SECONDS`` is closed (4000).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from core import hooks
from realtime import auth
from realtime.connlimits import caps_for, socket_registry
from realtime.groups import session_group, user_group
from realtime.ratelimit import TokenBucket

CLOSE_IDLE = 4000
CLOSE_UNAUTHORIZED = 4003
CLOSE_REVOKED = 4001
CLOSE_TOO_MANY = 4008
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
STREAMS = ("trade_updates",)


@database_sync_to_async
def _user_of_key(key_id: Any, secret: Any) -> tuple[int, str] | None:
    """(user id, session id) of an active API key with the ``read`` scope, or None."""
    from accounts.selectors import api_key_auth_get

    if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
        return None
    found = api_key_auth_get(key_id=key_id.strip(), secret=secret.strip())
    if found is None or not found[0].user.is_active or "read" not in found[1].scopes:
        return None
    grant, context = found
    return grant.user.pk, context.session_id


@database_sync_to_async
def _updates(user_id: int, event: dict[str, Any]) -> list[dict[str, Any]]:
    return hooks.trade_updates(user_id=user_id, event=event)


def _credentials(message: dict[str, Any]) -> tuple[Any, Any]:
    if message.get("action") == "auth":
        return message.get("key"), message.get("secret")
    data = message.get("data")
    if not isinstance(data, dict):
        return None, None
    return data.get("key_id"), data.get("secret_key")


class AlpacaStreamConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user_id: int | None = None
        self.listening: list[str] = []
        self.joined: set[str] = set()
        self.bucket = TokenBucket(rate=settings.WS_RATE_PER_SECOND, burst=settings.WS_RATE_BURST)
        self.violations = 0
        over = await socket_registry().claim(self.channel_name, caps_for(ip=auth.client_ip(self.scope)))
        await self.accept()
        if over is not None:
            await self._error(f"too many connections for this {over.kind}")
            await self._close(CLOSE_TOO_MANY)
            return
        self.auth_deadline = asyncio.ensure_future(self._close_unless_authenticated())

    async def _close_unless_authenticated(self) -> None:
        """A socket that has not authenticated within ``WS_IDLE_TIMEOUT_SECONDS`` is closed (4000)."""
        try:
            await asyncio.sleep(settings.WS_IDLE_TIMEOUT_SECONDS)
            if self.user_id is None:
                await self._close(CLOSE_IDLE)
        except asyncio.CancelledError:
            pass

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "auth_deadline", None)
        if task is not None:
            task.cancel()
        await socket_registry().release(self.channel_name)
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data.encode() if text_data is not None else (bytes_data or b"")
        if len(raw) > settings.WS_MAX_FRAME_BYTES:
            await self._error("frame too large")
            await self._close(CLOSE_TOO_BIG)
            return
        if not self.bucket.allow():
            self.violations += 1
            if self.violations > settings.WS_RATE_MAX_VIOLATIONS:
                await self._close(CLOSE_POLICY)
            return
        try:
            message = json.loads(raw)
        except ValueError:
            await self._error("invalid syntax")
            return
        action = message.get("action") if isinstance(message, dict) else None
        if action in ("authenticate", "auth"):
            await self._authenticate(message)
        elif action == "listen":
            await self._listen(message)
        else:
            await self._error("invalid action")

    async def _authenticate(self, message: dict[str, Any]) -> None:
        found = await _user_of_key(*_credentials(message))
        if found is not None and self.user_id not in (None, found[0]):
            found = None  # one socket, one account
        if found is not None and self.user_id is None:
            over = await socket_registry().claim(self.channel_name, caps_for(user_id=found[0]))
            if over is not None:
                await self._error(f"too many connections for this {over.kind}")
                await self._close(CLOSE_TOO_MANY)
                return
        status = "authorized" if found is not None else "unauthorized"
        data = {"status": status, "action": "authenticate"}
        if found is None:
            data["message"] = "access key verification failed"
        await self._send({"stream": "authorization", "data": data})
        if found is None:
            await self._close(CLOSE_UNAUTHORIZED)
            return
        self.user_id = found[0]
        await self._join(session_group(found[1]))  # a revoke of the key closes this socket

    async def _listen(self, message: dict[str, Any]) -> None:
        if self.user_id is None:
            await self._send({"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}})
            return
        data = message.get("data")
        streams = data.get("streams") if isinstance(data, dict) else None
        if not isinstance(streams, list):
            await self._error("invalid syntax")
            return
        self.listening = [name for name in STREAMS if name in streams]
        if self.listening:
            await self._join(user_group(self.user_id))
        else:
            await self._leave(user_group(self.user_id))
        await self._send({"stream": "listening", "data": {"streams": self.listening}})

    async def relay(self, message: dict[str, Any]) -> None:
        """A committed user event from ``user.<id>``: its trade updates, in order."""
        if self.user_id is None or "trade_updates" not in self.listening:
            return
        text = message.get("text")
        event = json.loads(text) if text else message.get("event") or {}
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict) or "order_id" not in data:
            return  # not an order's event (portfolio, positions): nothing to read
        for data in await _updates(self.user_id, event):
            await self._send({"stream": "trade_updates", "data": data})

    async def session_revoked(self, message: dict[str, Any]) -> None:
        await self._close(CLOSE_REVOKED)

    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def _close(self, code: int) -> None:
        await socket_registry().release(self.channel_name)
        await self.close(code=code)

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, message: str) -> None:
        await self._send({"stream": "error", "data": {"error": message}})
