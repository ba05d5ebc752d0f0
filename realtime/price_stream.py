"""The ``prices`` part of the ``/ws/`` consumer: which indexes a socket follows.

A socket holds a set of index symbols (``SOL-USD``, ``BONK-USD``) and is a member of the
process's fan-out (``realtime.fanout``) of each one's group, ``prices.<INDEX>``; a tick of any
other index never reaches it. A frame's ``symbols`` (market or index symbols) are resolved all
at once before anything changes: an unknown one gets an error frame (``market_not_found``,
``extra.symbol``) and nothing of that frame is subscribed. ``WS_MAX_SYMBOLS_PER_SOCKET`` caps
both the symbols one frame names and the indexes one socket holds through explicit lists; the
default subscription (every listed market's index) is the server's own list and always fits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from realtime.fanout import fanout_for
from realtime.groups import prices_group
from realtime.price_symbols import SymbolUnknown, indexes_for, listed_indexes


class PriceSubscriptions:
    """Mixed into ``StreamConsumer``; needs its ``subscriptions`` and ``_error``."""

    subscriptions: set[str]
    price_groups: dict[str, str]  # index symbol -> its group name

    if TYPE_CHECKING:  # provided by the consumer; declared here for the type checker only

        async def _error(self, code: str, message: str, extra: dict | None = None) -> None: ...

        async def on_broadcast(self, group: str, payload: dict, text: str) -> None: ...

    async def _price_indexes(self, content: dict, *, adding: bool) -> list[str] | None:
        """The indexes a frame's ``symbols`` name (absent: every listed one on subscribe, every
        one held on unsubscribe), or None once an error frame has been sent."""
        raw = content.get("symbols")
        if raw is None:
            return await database_sync_to_async(listed_indexes)() if adding else list(self.price_groups)
        symbols = [raw] if isinstance(raw, str) else raw
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            await self._error("bad_message", '"symbols" must be a non-empty list of market or index symbols.')
            return None
        limit = settings.WS_MAX_SYMBOLS_PER_SOCKET
        if len(symbols) > limit:
            await self._error("too_many_symbols", f"At most {limit} symbols per socket.", {"limit": limit})
            return None
        try:
            indexes = await database_sync_to_async(indexes_for)([s[:32] for s in symbols])
        except SymbolUnknown as exc:
            await self._error(exc.code, exc.message, exc.extra)
            return None
        if adding and len(self.price_groups.keys() | set(indexes)) > limit:
            await self._error("too_many_symbols", f"At most {limit} symbols per socket.", {"limit": limit})
            return None
        return indexes

    async def _join_prices(self, indexes: Sequence[str]) -> None:
        new = {index: prices_group(index) for index in indexes if index not in self.price_groups}
        self.price_groups.update(new)
        await asyncio.gather(*(fanout_for(group).add(self) for group in new.values()))

    def _leave_prices(self, indexes: Sequence[str]) -> None:
        for index in indexes:
            group = self.price_groups.pop(index, None)
            if group is not None:
                fanout_for(group).discard(self)

    def _subscribed_state(self) -> dict:
        return {"channels": sorted(self.subscriptions), "symbols": sorted(self.price_groups)}
