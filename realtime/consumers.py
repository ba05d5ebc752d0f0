"""The one WebSocket endpoint ``/ws/``. Transport only: it authenticates, joins
groups, relays events published by services, and replays missed user events.

Client frames: ``ping``, ``auth {token}``, ``subscribe``/``unsubscribe``
``{channels: ["prices", "account"], symbols?: [...]}`` (or ``channel``), ``resume {after_seq}``.
``symbols`` (market or index symbols) narrows ``prices`` to those tokens' indexes; without it a
subscribe takes every listed market's index and an unsubscribe drops them all.
Anything else gets ``{"type": "error", "code", "message"}``; the socket stays up.

Close codes: 4000 idle, 4001 session revoked, 4002 session expired, 4003 invalid ``?token=`` (at
the handshake), 4008 too many sockets for this user or IP, 1008 rate limit, 1009 frame too large.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime import auth
from realtime.connlimits import Cap, caps_for, socket_registry
from realtime.groups import cookie_session_group, session_group, user_group
from realtime.portfolio_feed import portfolio_feed
from realtime.price_stream import PriceSubscriptions
from realtime.price_symbols import price_snapshot
from realtime.publish import event
from realtime.ratelimit import TokenBucket
from realtime.subscribe_timing import SubscribeTiming

if TYPE_CHECKING:
    from realtime.selectors import ResumeResult

CLOSE_IDLE = 4000
CLOSE_REVOKED = 4001
CLOSE_EXPIRED = 4002
CLOSE_BAD_TOKEN = 4003
CLOSE_TOO_MANY = 4008
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CHANNELS = ("prices", "account")


class StreamConsumer(PriceSubscriptions, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.timing = SubscribeTiming()
        self.principal: auth.Principal | None = None
        self.subscriptions: set[str] = set()
        self.price_groups: dict[str, str] = {}  # index symbol -> its group, while subscribed to prices
        self.joined: set[str] = set()
        self.bucket = TokenBucket(rate=settings.WS_RATE_PER_SECOND, burst=settings.WS_RATE_BURST)
        self.violations = 0
        self.last_client_frame = time.monotonic()
        self.expiry_task: asyncio.Task | None = None
        token = auth.token_from_query(self.scope)
        principal = await auth.principal_from_token(token) if token else await auth.principal_from_cookie(self.scope)
        if token and principal is None:
            await self.close(code=CLOSE_BAD_TOKEN)  # refused at the handshake: nothing was counted
            return
        caps = caps_for(ip=auth.client_ip(self.scope), user_id=principal.user_id if principal else None)
        over = await socket_registry().claim(self.channel_name, caps)
        await self.accept()  # even over a cap: a close code and an error frame a browser can read
        if over is not None:
            await self._refuse(over)
            return
        if principal is not None:
            await self._become(principal)
        self.timing.connected()
        self.heartbeat_task = asyncio.ensure_future(self._heartbeat())

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "heartbeat_task", None), getattr(self, "expiry_task", None)):
            if task is not None:
                task.cancel()
        self._leave_prices(list(getattr(self, "price_groups", {})))
        principal: auth.Principal | None = getattr(self, "principal", None)  # None if connect() never ran
        if principal is not None:
            portfolio_feed().discard(principal.user_id, self)
        await socket_registry().release(self.channel_name)
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- client frames -------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_client_frame = time.monotonic()
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WS_MAX_FRAME_BYTES:
            await self._error("frame_too_large", f"Frames are limited to {settings.WS_MAX_FRAME_BYTES} bytes.")
            await self._close(CLOSE_TOO_BIG)
            return
        if not self.bucket.allow():
            self.violations += 1
            if self.violations > settings.WS_RATE_MAX_VIOLATIONS:
                await self._close(CLOSE_POLICY)
            else:
                await self._error("rate_limited", "Too many messages; slow down.")
            return
        if text_data is None:
            await self._error("binary_not_supported", "Send JSON text frames.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("bad_json", "Frames must be JSON objects.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("bad_message", 'Frames are JSON objects with a string "type".')
            return
        handler = {
            "ping": self._on_ping,
            "auth": self._on_auth,
            "subscribe": self._on_subscribe,
            "unsubscribe": self._on_unsubscribe,
            "resume": self._on_resume,
        }.get(content["type"])
        if handler is None:
            await self._error("unknown_type", f"Unknown message type {content['type'][:40]!r}.")
            return
        await handler(content)

    async def _on_ping(self, content: dict) -> None:
        await self._send(event("pong", {}))

    async def _on_auth(self, content: dict) -> None:
        token = content.get("token")
        principal = await auth.principal_from_token(token) if isinstance(token, str) else None
        if principal is None:
            await self._error("auth_failed", "The token is invalid, expired or revoked.")
            return
        if self.principal is not None and self.principal.user_id != principal.user_id:
            await self._error("already_authenticated", "This socket is already signed in as another user.")
            return
        if self.principal is None:
            over = await socket_registry().claim(self.channel_name, caps_for(user_id=principal.user_id))
            if over is not None:
                await self._refuse(over)
                return
        await self._become(principal)

    def _channels_of(self, content: dict) -> list[str] | None:
        raw = content.get("channels", content.get("channel"))
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            return None
        return names

    async def _on_subscribe(self, content: dict) -> None:
        started = time.monotonic()
        names = self._channels_of(content)
        if names is None:
            await self._error("bad_message", 'subscribe needs "channels": ["prices", "account"].')
            return
        unknown = [n for n in names if n not in CHANNELS]
        if unknown:
            await self._error("unknown_channel", f"Unknown channel {unknown[0][:40]!r}.", {"channels": list(CHANNELS)})
            return
        indexes: list[str] = []
        if "prices" in names:
            found = await self._price_indexes(content, adding=True)
            if found is None:
                return  # an error frame was sent; nothing of this frame is subscribed
            indexes = found
        if "account" in names and not await self._may_read_account():
            return
        for name in names:
            await self._subscribe(name, indexes)
        await self._send(event("subscribed", self._subscribed_state()))
        self.timing.subscribed(started, names)
        snapshot = await database_sync_to_async(price_snapshot)(indexes) if indexes else []
        for frame in snapshot:  # the latest price of each index asked for, then live ticks
            await self._send(frame)

    async def _on_unsubscribe(self, content: dict) -> None:
        names = self._channels_of(content)
        if names is None or any(n not in CHANNELS for n in names):
            await self._error("bad_message", 'unsubscribe needs "channels" from ["prices", "account"].')
            return
        drop: list[str] = []
        if "prices" in names:
            found = await self._price_indexes(content, adding=False)
            if found is None:
                return
            drop = found
        self._leave_prices(drop)
        for name in names:
            if name != "prices" or not self.price_groups:
                self.subscriptions.discard(name)
        if "account" not in self.subscriptions and self.principal is not None:
            portfolio_feed().discard(self.principal.user_id, self)
            await self._leave(user_group(self.principal.user_id))
        await self._send(event("unsubscribed", self._subscribed_state()))

    async def _on_resume(self, content: dict) -> None:
        after = content.get("after_seq")
        if not await self._may_read_account():
            return
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error("bad_message", '"after_seq" must be a non-negative integer.')
            return
        await self._subscribe("account")  # join first so nothing falls between replay and live
        result = await self._events_after(after)
        if result.resync_reason:
            await self._send(event("resync_required", {"reason": result.resync_reason, "last_seq": result.last_seq}))
            return
        for payload in result.events:
            await self._send(payload)
        await self._send(
            event("resumed", {"after_seq": after, "replayed": len(result.events), "last_seq": result.last_seq})
        )

    @database_sync_to_async
    def _events_after(self, after: int) -> ResumeResult:
        from realtime.selectors import user_events_after

        return user_events_after(user_id=self._reader_id(), after_seq=after)

    # --- group events ---------------------------------------------------------------
    async def on_broadcast(self, group: str, payload: dict, text: str) -> None:
        """A public tick from the process's fan-out (see realtime.fanout) of an index followed."""
        if "prices" in self.subscriptions and group in self.price_groups.values():
            await self.send(text_data=text)

    async def portfolio_tick(self, text: str) -> None:
        """The user's price-driven portfolio_update, computed once for all their local sockets."""
        if "account" in self.subscriptions:
            await self.send(text_data=text)

    async def relay(self, message: dict) -> None:
        """A user event from ``user.<id>`` (only joined while subscribed to account)."""
        if "account" in self.subscriptions:
            text = message.get("text")
            await (self.send(text_data=text) if text else self._send(message["event"]))

    async def session_revoked(self, message: dict) -> None:
        await self._send(event("session_revoked", {}))
        await self._close(CLOSE_REVOKED)

    # --- internals --------------------------------------------------------------------
    async def _become(self, principal: auth.Principal) -> None:
        previous, self.principal = self.principal, principal
        if previous is not None:  # the same user on a new credential: the old one no longer holds it
            await self._leave_credential_groups(previous)
            if not principal.has_scope("read"):
                self.subscriptions.discard("account")
                portfolio_feed().discard(principal.user_id, self)
                await self._leave(user_group(principal.user_id))
        if principal.session_id:
            await self._join(session_group(principal.session_id))
        if principal.cookie_session_key:
            await self._join(cookie_session_group(principal.cookie_session_key))
        if self.expiry_task is not None:
            self.expiry_task.cancel()
        if principal.expires_at is not None:
            self.expiry_task = asyncio.ensure_future(self._close_when_expired(principal))
        await self._send(event("authenticated", {"user_id": principal.user_id, "via": principal.via}))

    async def _leave_credential_groups(self, principal: auth.Principal) -> None:
        if principal.session_id:
            await self._leave(session_group(principal.session_id))
        if principal.cookie_session_key:
            await self._leave(cookie_session_group(principal.cookie_session_key))

    async def _refuse(self, over: Cap) -> None:
        """Over a cap: say why in an error frame, then close with 4008 and the reason."""
        reason = "too many connections for this " + ("IP" if over.kind == "ip" else "user")
        await self._error("too_many_connections", f"Refused: {reason}.", {"scope": over.kind, "limit": over.limit})
        await self._close(CLOSE_TOO_MANY, reason)

    async def _may_read_account(self) -> bool:
        """The account stream needs a principal holding the ``read`` scope, as the HTTP reads do."""
        if self.principal is None:
            await self._error("auth_required", "Sign in (cookie, ?token= or an auth frame) to read the account stream.")
            return False
        if not self.principal.has_scope("read"):
            await self._error("scope_missing", "This API key lacks the 'read' scope.", {"required_scope": "read"})
            return False
        return True

    def _reader_id(self) -> int:
        """The account stream's reader, once ``_may_read_account`` said yes."""
        if self.principal is None:
            raise RuntimeError("the account stream is read only after _may_read_account")
        return self.principal.user_id

    async def _close_when_expired(self, principal: auth.Principal) -> None:
        """Sleep until the session's end, re-read it (it may have been extended), then close (4002)."""
        expires_at = principal.expires_at
        try:
            while expires_at is not None and expires_at > datetime.now(timezone.utc):
                await asyncio.sleep((expires_at - datetime.now(timezone.utc)).total_seconds() + 0.05)
                expires_at = await auth.session_expires_at(principal)
            await self._send(event("session_expired", {}))
            await self._close(CLOSE_EXPIRED, "session expired")
        except asyncio.CancelledError:
            pass

    async def _subscribe(self, name: str, indexes: Sequence[str] = ()) -> None:
        self.subscriptions.add(name)
        if name == "prices":
            await self._join_prices(indexes)
        if name == "account":
            user_id = self._reader_id()
            await self._join(user_group(user_id))
            await portfolio_feed().add(user_id, self)

    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def _close(self, code: int, reason: str | None = None) -> None:
        """Close from our side; the socket stops counting against its caps at once, not when
        the client finishes the closing handshake."""
        await socket_registry().release(self.channel_name)
        await self.close(code=code, reason=reason)

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, code: str, message: str, extra: dict | None = None) -> None:
        await self._send({"type": "error", "code": code, "message": message, "extra": extra or {}})

    async def _heartbeat(self) -> None:
        interval = settings.WS_HEARTBEAT_SECONDS
        try:
            while True:
                await asyncio.sleep(interval)
                if time.monotonic() - self.last_client_frame > settings.WS_IDLE_TIMEOUT_SECONDS:
                    await self._close(CLOSE_IDLE)
                    return
                await self._send(event("heartbeat", {}))
        except asyncio.CancelledError:
            pass
