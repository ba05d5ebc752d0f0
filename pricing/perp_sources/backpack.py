"""Backpack Exchange: ``GET /api/v1/markPrices`` answers every market at once, a list of
``{"symbol": "SOL_USDC_PERP", "markPrice", "indexPrice", "fundingRate", "nextFundingTimestamp"}``
(prices and rates strings, the time in ms). Backpack charges funding every hour, and its
``fundingRate`` is the rate of one such interval (its default 0.0000125 is 0.01 % per 8 h / 8)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricing.perp_sources.base import PerpObservation, PerpRequest, PerpSource, by_key, optional_rate, positive
from pricing.sources.base import SourceError, from_unix, to_decimal


def from_ms(raw: Any, what: str) -> datetime | None:
    """A unix time in milliseconds, ``None`` when absent or 0."""
    if raw in (None, 0, ""):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SourceError(f"{what} is not an integer: {raw!r}"[:120])
    return from_unix(to_decimal(raw, what) / 1000, what)


class BackpackMarkPrices(PerpSource):
    name = "backpack"
    quote = "USDC"
    interval_hours = 1
    default_url = "https://api.backpack.exchange"

    def request(self, ids: Sequence[str]) -> PerpRequest:
        if len(ids) == 1:
            return PerpRequest("GET", "/api/v1/markPrices", [("symbol", ids[0])])
        return PerpRequest("GET", "/api/v1/markPrices")

    def entries(self, payload: Any) -> Mapping[str, Any]:
        if isinstance(payload, dict):
            payload = [payload]
        return by_key(payload, "symbol", "Backpack")

    def observation(self, instrument: str, entry: Any, received_at: datetime) -> PerpObservation:
        index = entry.get("indexPrice")
        return PerpObservation(
            source=self.name, instrument=instrument, mark=positive(entry.get("markPrice"), "markPrice"),
            index=positive(index, "indexPrice") if index is not None else None,
            funding_rate=optional_rate(entry.get("fundingRate"), "fundingRate"), interval_hours=self.interval_hours,
            quote=self.quote, next_funding_at=from_ms(entry.get("nextFundingTimestamp"), "nextFundingTimestamp"),
            received_at=received_at,
        )  # fmt: skip
