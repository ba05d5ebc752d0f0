"""Price-driven ``portfolio_update`` frames, computed once per user and shared by that user's sockets.

A price tick used to make every account-subscribed socket run its own snapshot (several queries),
so one user with N sockets cost N snapshots a tick. Here each server process (event loop) has one
feed: it joins the local price fan-out of every listed index once, and on a tick of any of them
schedules at most one snapshot per user that has account sockets in this process, no sooner than
``WS_PORTFOLIO_COALESCE_MS`` after that user's previous one. The frame is serialised once and
sent to each of the user's local sockets.

Bound: per process, at most one snapshot per (user with an account socket here) per
``WS_PORTFOLIO_COALESCE_MS``, whatever the number of their sockets or of ticks. Snapshots run
through ``database_sync_to_async`` (one thread per process), so they never run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from core import hooks
from realtime.fanout import fanout_for
from realtime.groups import prices_group
from realtime.price_symbols import listed_indexes
from realtime.publish import event, jsonable

logger = logging.getLogger("realtime.portfolio_feed")


class Recipient(Protocol):
    async def portfolio_tick(self, text: str) -> None: ...


class PortfolioFeed:
    def __init__(self) -> None:
        self.sockets: dict[int, set[Recipient]] = {}
        self.pending: dict[int, asyncio.Task] = {}
        self.sent_at: dict[int, float] = {}  # user -> monotonic time of the last snapshot

    async def add(self, user_id: int, socket: Recipient) -> None:
        """Follow ``socket``'s user; the feed joins every listed index's fan-out (a tick of any
        token the user may hold or trade schedules their update, still coalesced per user)."""
        self.sockets.setdefault(user_id, set()).add(socket)
        indexes = await database_sync_to_async(listed_indexes)()
        await asyncio.gather(*(fanout_for(prices_group(index)).add(self) for index in indexes))

    def discard(self, user_id: int, socket: Recipient) -> None:
        sockets = self.sockets.get(user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.sockets[user_id]

    async def on_broadcast(self, group: str, payload: dict, text: str) -> None:
        """A tick: one pending update per user absorbs every tick until it is sent."""
        interval = settings.WS_PORTFOLIO_COALESCE_MS / 1000
        now = time.monotonic()
        for user_id in [u for u, at in self.sent_at.items() if u not in self.sockets and now - at >= interval]:
            del self.sent_at[user_id]  # forget users gone for longer than the interval
        for user_id in self.sockets:
            task = self.pending.get(user_id)
            if task is None or task.done():
                self.pending[user_id] = asyncio.ensure_future(self._update(user_id))

    async def _update(self, user_id: int) -> None:
        try:
            last = self.sent_at.get(user_id)
            if last is not None:
                wait = last + settings.WS_PORTFOLIO_COALESCE_MS / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            if user_id not in self.sockets:
                return  # the user's last socket left while we waited
            self.sent_at[user_id] = time.monotonic()
            snapshot = await portfolio_snapshot(user_id)
            if snapshot is None:
                return
            text = json.dumps(event("portfolio_update", {**snapshot, "reason": "price"}), separators=(",", ":"))
            for socket in list(self.sockets.get(user_id, ())):
                try:
                    await socket.portfolio_tick(text)
                except Exception:
                    logger.warning("portfolio update to a socket failed", exc_info=True)
        finally:
            if self.pending.get(user_id) is asyncio.current_task():
                del self.pending[user_id]


@database_sync_to_async
def portfolio_snapshot(user_id: int) -> dict | None:
    """The ``portfolio_snapshot`` hook's dict (``core.hooks``: portfolio provides it) made
    JSON-safe; None when nothing provides one or it fails."""
    try:
        snapshot = hooks.portfolio_snapshot(user_id=user_id)
        return None if snapshot is None else jsonable(snapshot)
    except Exception:
        logger.warning("portfolio snapshot for user %s failed", user_id, exc_info=True)
        return None


_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PortfolioFeed] = weakref.WeakKeyDictionary()


def portfolio_feed() -> PortfolioFeed:
    """The running event loop's (server process's) feed."""
    loop = asyncio.get_running_loop()
    if loop not in _feeds:
        _feeds[loop] = PortfolioFeed()
    return _feeds[loop]
