"""Coinbase Exchange: ``GET /products/SOL-USD/ticker`` (bid/ask/price as strings;
``time`` is the last trade's time, ISO-8601 with ``Z``; a time without an offset is
refused). Errors: ``{"message": …}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    from_iso,
    load_json,
    mid_or_last,
    to_decimal,
)


class CoinbaseTicker(PriceSource):
    name = "coinbase"
    quote = "USD"
    default_url = "https://api.exchange.coinbase.com"

    def request(self) -> HttpRequestSpec:
        return HttpRequestSpec("/products/SOL-USD/ticker", [], {})

    def check_error(self, *, status: int, body: bytes) -> None:
        if status >= 400 and status not in (418, 429):
            try:
                payload = load_json(body)
            except SourceError:
                return
            if isinstance(payload, dict) and payload.get("message"):
                raise SourceError(f"Coinbase {status}: {payload['message']}", http_status=status)

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Coinbase response is not an object")
        bid = to_decimal(payload.get("bid"), "bid")
        ask = to_decimal(payload.get("ask"), "ask")
        last = to_decimal(payload.get("price"), "price")
        raw_time = payload.get("time")
        trade_time = None if raw_time is None else from_iso(raw_time, "time")
        return Reading(
            Observation(
                source=self.name,
                price=mid_or_last(bid, ask, last),
                quote="USD",
                bid=bid,
                ask=ask,
                source_time=trade_time,
                received_at=received_at,
            )
        )
