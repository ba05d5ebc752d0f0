"""Coinbase Exchange: ``GET /products/<product>/ticker``, one product per request (bid/ask/price
as strings; ``time`` is the last trade's time, ISO-8601 with ``Z``; a time without an offset is
refused). Errors: ``{"message": …}`` (an unknown product: 404 ``NotFound``, that product's error)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

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
    batch_size = 1

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        return HttpRequestSpec(f"/products/{quote(ids[0], safe='')}/ticker", [], {})

    def check_error(self, *, status: int, body: bytes) -> None:
        if status >= 400 and status not in (418, 429):
            try:
                payload = load_json(body)
            except SourceError:
                return
            if isinstance(payload, dict) and payload.get("message"):
                raise SourceError(f"Coinbase {status}: {payload['message']}", http_status=status)

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Coinbase response is not an object")
        bid = to_decimal(payload.get("bid"), "bid")
        ask = to_decimal(payload.get("ask"), "ask")
        last = to_decimal(payload.get("price"), "price")
        raw_time = payload.get("time")
        trade_time = None if raw_time is None else from_iso(raw_time, "time")
        observation = Observation(
            source=self.name,
            price=mid_or_last(bid, ask, last),
            quote="USD",
            bid=bid,
            ask=ask,
            source_time=trade_time,
            received_at=received_at,
        )
        return Reading(observations={ids[0]: observation})
