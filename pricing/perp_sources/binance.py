"""Binance USD-M futures: ``GET /fapi/v1/premiumIndex`` (every symbol: a list; ``?symbol=SOLUSDT``:
one object) of ``{"symbol", "markPrice", "indexPrice", "lastFundingRate", "interestRate",
"nextFundingTime", "time"}`` (prices and rates strings, times in ms). ``lastFundingRate`` is the
rate of the symbol's funding interval: 8 hours, except the symbols ``GET /fapi/v1/fundingInfo``
lists with their own ``fundingIntervalHours`` (4 h, 1 h: Binance answers only the symbols whose
interval, cap or floor it adjusted: ``[{"symbol", "adjustedFundingRateCap",
"adjustedFundingRateFloor", "fundingIntervalHours", "disclaimer"}]``). Errors are ``{"code": -1121,
"msg": "Invalid symbol."}`` with HTTP 400."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricing.perp_sources.backpack import from_ms
from pricing.perp_sources.base import PerpObservation, PerpRequest, PerpSource, by_key, optional_rate, positive
from pricing.sources.base import SourceError, load_json, snippet


class BinancePremiumIndex(PerpSource):
    name = "binance"
    quote = "USDT"
    interval_hours = 8
    default_url = "https://fapi.binance.com"

    def intervals_request(self) -> PerpRequest:
        return PerpRequest("GET", "/fapi/v1/fundingInfo")

    def parse_intervals(self, *, status: int, body: bytes) -> dict[str, int]:
        """``{symbol: fundingIntervalHours}`` of the listed symbols (an entry without a whole
        number of hours from 1 to 24 that divides the day is left out: its symbol keeps 8)."""
        if status >= 400:
            raise SourceError(f"HTTP {status}: {snippet(body)}", http_status=status)
        payload = load_json(body)
        if not isinstance(payload, list):
            raise SourceError("Binance fundingInfo: not a list")
        out: dict[str, int] = {}
        for entry in payload:
            hours = entry.get("fundingIntervalHours") if isinstance(entry, dict) else None
            symbol = entry.get("symbol") if isinstance(entry, dict) else None
            if isinstance(symbol, str) and type(hours) is int and 1 <= hours <= 24 and 24 % hours == 0:
                out[symbol] = hours
        return out

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
            interval_hours=self.interval_of(instrument), quote=self.quote,
            next_funding_at=from_ms(entry.get("nextFundingTime"), "nextFundingTime"), received_at=received_at,
        )  # fmt: skip
