"""Backpack Exchange: ``GET /api/v1/tickers`` (every market in one answer: a list of ticker
objects) when several symbols are wanted, ``GET /api/v1/ticker?symbol=SOL_USDC`` for one.
Each ticker's fields are strings (``symbol``, ``lastPrice``…, shape of the ccxt-captured
``/ticker`` answer); there is no timestamp and no bid/ask, so the observation is ``lastPrice``
in USDC. A symbol missing from the list is that instrument's error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    per_instrument,
    to_decimal,
)


class BackpackTicker(PriceSource):
    name = "backpack"
    quote = "USDC"
    default_url = "https://api.backpack.exchange"
    batch_size = None  # /api/v1/tickers answers every market at once

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        if len(ids) == 1:
            return HttpRequestSpec("/api/v1/ticker", [("symbol", ids[0])], {})
        return HttpRequestSpec("/api/v1/tickers", [], {})

    def _observation(self, entry: Any, received_at: datetime) -> Observation:
        price = to_decimal(entry.get("lastPrice"), "lastPrice")
        return Observation(source=self.name, price=price, quote=self.quote, received_at=received_at)

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        if isinstance(payload, dict):
            symbol = payload.get("symbol")
            if len(ids) == 1 and symbol is not None and symbol != ids[0]:
                raise SourceError(f"Backpack answered for {symbol!r}, not {ids[0]}")
            key = symbol if isinstance(symbol, str) else (ids[0] if len(ids) == 1 else "")
            entries = {key: payload}
        elif isinstance(payload, list):
            entries = {e["symbol"]: e for e in payload if isinstance(e, dict) and isinstance(e.get("symbol"), str)}
        else:
            raise SourceError("Backpack response is not an object or a list")
        return per_instrument(ids, entries, lambda _s, e: self._observation(e, received_at))
