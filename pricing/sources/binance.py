"""Binance: ``GET /api/v3/ticker/bookTicker?symbol=SOLUSDT`` (strings, no timestamp).
Errors: ``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400; 429 and 418
(IP ban) carry ``Retry-After``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    load_json,
    mid_or_last,
    to_decimal,
)

SYMBOL = "SOLUSDT"


class BinanceBookTicker(PriceSource):
    name = "binance"
    quote = "USDT"
    default_url = "https://api.binance.com"

    def request(self) -> HttpRequestSpec:
        headers = {"X-MBX-APIKEY": self.api_key} if self.api_key else {}
        return HttpRequestSpec("/api/v3/ticker/bookTicker", [("symbol", SYMBOL)], headers)

    def check_error(self, *, status: int, body: bytes) -> None:
        if status >= 400:
            try:
                payload = load_json(body)
            except SourceError:
                return
            if isinstance(payload, dict) and "code" in payload:
                raise SourceError(f"Binance {payload.get('code')}: {payload.get('msg')}", http_status=status)

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Binance response is not an object")
        if payload.get("symbol") != SYMBOL:
            raise SourceError(f"Binance answered for {payload.get('symbol')!r}, not {SYMBOL}")
        bid = to_decimal(payload.get("bidPrice"), "bidPrice")
        ask = to_decimal(payload.get("askPrice"), "askPrice")
        return Reading(
            Observation(
                source=self.name,
                price=mid_or_last(bid, ask, None),
                quote=self.quote,
                bid=bid,
                ask=ask,
                received_at=received_at,
            )
        )
