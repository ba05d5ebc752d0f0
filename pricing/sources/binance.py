"""Binance: ``GET /api/v3/ticker/bookTicker?symbols=["SOLUSDT","BONKUSDT"]`` (a JSON array
parameter; the answer is a list of book tickers, strings, no timestamp) or ``?symbol=SOLUSDT``
for one (the answer is one object). Errors: ``{"code": -1121, "msg": "Invalid symbol."}`` with
HTTP 400 — for any unknown symbol in the list, so ``pricing.fetch`` asks again one symbol per
request; 429 and 418 (IP ban) carry ``Retry-After``."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    per_instrument,
    to_decimal,
)

INVALID_SYMBOL = -1121


class BinanceBookTicker(PriceSource):
    name = "binance"
    quote = "USDT"
    default_url = "https://api.binance.com"
    batch_size = 100

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        headers = {"X-MBX-APIKEY": self.api_key} if self.api_key else {}
        if len(ids) == 1:
            return HttpRequestSpec("/api/v3/ticker/bookTicker", [("symbol", ids[0])], headers)
        symbols = json.dumps(list(ids), separators=(",", ":"))
        return HttpRequestSpec("/api/v3/ticker/bookTicker", [("symbols", symbols)], headers)

    def check_error(self, *, status: int, body: bytes) -> None:
        if status >= 400:
            try:
                payload = load_json(body)
            except SourceError:
                return
            if isinstance(payload, dict) and "code" in payload:
                raise SourceError(
                    f"Binance {payload.get('code')}: {payload.get('msg')}",
                    http_status=status,
                    unknown_id=payload.get("code") == INVALID_SYMBOL,
                )

    def _observation(self, entry: dict[str, Any], received_at: datetime) -> Observation:
        bid = to_decimal(entry.get("bidPrice"), "bidPrice")
        ask = to_decimal(entry.get("askPrice"), "askPrice")
        return Observation(
            source=self.name, price=mid_or_last(bid, ask, None), quote=self.quote, bid=bid, ask=ask,
            received_at=received_at,
        )  # fmt: skip

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        if isinstance(payload, dict):
            if len(ids) == 1 and payload.get("symbol") != ids[0]:
                raise SourceError(f"Binance answered for {payload.get('symbol')!r}, not {ids[0]}")
            payload = [payload]
        if not isinstance(payload, list):
            raise SourceError("Binance response is not an object or a list")
        entries = {e["symbol"]: e for e in payload if isinstance(e, dict) and isinstance(e.get("symbol"), str)}
        return per_instrument(ids, entries, lambda _s, e: self._observation(e, received_at))
