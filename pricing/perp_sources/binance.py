"""Binance USD-M futures: ``GET /fapi/v1/premiumIndex`` (every symbol: a list; ``?symbol=SOLUSDT``:
one object) of ``{"symbol", "markPrice", "indexPrice", "lastFundingRate", "interestRate",
"nextFundingTime", "time"}`` (prices and rates strings, times in ms). ``lastFundingRate`` is the
rate of Binance's funding interval, 8 hours for the markets listed here. Errors are
``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricing.perp_sources.backpack import from_ms
from pricing.perp_sources.base import PerpObservation, PerpRequest, PerpSource, by_key, optional_rate, positive
from pricing.sources.base import SourceError, load_json


class BinancePremiumIndex(PerpSource):
    name = "binance"
    quote = "USDT"
    interval_hours = 8
    default_url = "https://fapi.binance.com"

    def request(self, ids: Sequence[str]) -> PerpRequest:
        if len(ids) == 1:
            return PerpRequest("GET", "/fapi/v1/premiumIndex", [("symbol", ids[0])])
        return PerpRequest("GET", "/fapi/v1/premiumIndex")

    def parse(self, *, status: int, body: bytes, headers: dict[str, str], received_at: datetime,
              ids: Sequence[str]):  # fmt: skip
        if status >= 400 and status not in (418, 429):
            try:
                payload = load_json(body)
            except SourceError:
                payload = None
            if isinstance(payload, dict) and "code" in payload:
                raise SourceError(f"Binance {payload.get('code')}: {payload.get('msg')}", http_status=status)
        return super().parse(status=status, body=body, headers=headers, received_at=received_at, ids=ids)

    def entries(self, payload: Any) -> Mapping[str, Any]:
        if isinstance(payload, dict):
            payload = [payload]
        return by_key(payload, "symbol", "Binance")

    def observation(self, instrument: str, entry: Any, received_at: datetime) -> PerpObservation:
        index = entry.get("indexPrice")
        return PerpObservation(
            source=self.name, instrument=instrument, mark=positive(entry.get("markPrice"), "markPrice"),
            index=positive(index, "indexPrice") if index not in (None, "") else None,
            funding_rate=optional_rate(entry.get("lastFundingRate"), "lastFundingRate"),
            interval_hours=self.interval_hours, quote=self.quote,
            next_funding_at=from_ms(entry.get("nextFundingTime"), "nextFundingTime"), received_at=received_at,
        )  # fmt: skip
