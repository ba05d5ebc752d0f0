"""Backpack Exchange: ``GET /api/v1/ticker?symbol=SOL_USDC``. Every field is a string;
there is no timestamp and no bid/ask, so the observation is ``lastPrice`` in USDC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.sources.base import HttpRequestSpec, Observation, PriceSource, Reading, SourceError, to_decimal

SYMBOL = "SOL_USDC"


class BackpackTicker(PriceSource):
    name = "backpack"
    quote = "USDC"
    default_url = "https://api.backpack.exchange"

    def request(self) -> HttpRequestSpec:
        return HttpRequestSpec("/api/v1/ticker", [("symbol", SYMBOL)], {})

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Backpack response is not an object")
        symbol = payload.get("symbol")
        if symbol is not None and symbol != SYMBOL:
            raise SourceError(f"Backpack answered for {symbol!r}, not {SYMBOL}")
        price = to_decimal(payload.get("lastPrice"), "lastPrice")
        return Reading(Observation(source=self.name, price=price, quote=self.quote, received_at=received_at))
