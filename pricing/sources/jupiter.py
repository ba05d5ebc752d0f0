"""Jupiter Price API v3: ``GET /price/v3?ids=<mint>,<mint>,…`` (up to 50 mints per request).

The answer is an object keyed by mint. ``usdPrice`` is a JSON number (parsed straight to
Decimal). A mint without a reliable price is simply absent (or, in some captures, ``null``):
that instrument's error, never the others'. No timestamp.
"""

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
    short,
    to_decimal,
)

SOL_MINT = "So11111111111111111111111111111111111111112"


class JupiterPrice(PriceSource):
    name = "jupiter"
    quote = "USD"
    default_url = "https://lite-api.jup.ag"
    batch_size = 50

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        return HttpRequestSpec("/price/v3", [("ids", ",".join(ids))], headers)

    def _observation(self, mint: str, entry: Any, received_at: datetime) -> Observation:
        if not isinstance(entry, dict):
            raise SourceError(f"Jupiter entry for {mint} is not an object: {short(entry)}")
        price = to_decimal(entry.get("usdPrice"), "usdPrice")
        return Observation(source=self.name, price=price, quote="USD", received_at=received_at)

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Jupiter response is not an object")
        present = {mint: entry for mint, entry in payload.items() if entry is not None}
        reading = per_instrument(ids, present, lambda mint, e: self._observation(mint, e, received_at))
        absent = {m: f"Jupiter has no reliable price for {m} (mint absent)" for m in ids if m not in present}
        return Reading(reading.observations, {**reading.errors, **absent})
