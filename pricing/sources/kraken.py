"""Kraken: ``GET /0/public/Ticker?pair=SOLUSD``. Errors come with HTTP 200 in the
``error`` list; the ``result`` object has a single entry (keyed by Kraken's own pair
name) whose ``a``/``b``/``c`` arrays start with the ask, bid and last trade price."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    mid_or_last,
    short,
    to_decimal,
)


def _first(entry: dict[str, Any], key: str) -> Any:
    value = entry.get(key)
    if not isinstance(value, list) or not value:
        raise SourceError(f"Kraken field {key!r} is not a non-empty array")
    return value[0]


class KrakenTicker(PriceSource):
    name = "kraken"
    quote = "USD"
    default_url = "https://api.kraken.com"

    def request(self) -> HttpRequestSpec:
        return HttpRequestSpec("/0/public/Ticker", [("pair", "SOLUSD")], {})

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Kraken response is not an object")
        errors = payload.get("error") or []
        if not isinstance(errors, list):
            raise SourceError(f"Kraken error field is not a list: {short(errors)}")
        if errors:
            raise SourceError("Kraken: " + "; ".join(str(e) for e in errors))
        result = payload.get("result")
        if not isinstance(result, dict) or len(result) != 1:
            raise SourceError("Kraken result does not hold exactly one pair")
        entry = next(iter(result.values()))
        if not isinstance(entry, dict):
            raise SourceError("Kraken pair entry is not an object")
        ask = to_decimal(_first(entry, "a"), "a[0]")
        bid = to_decimal(_first(entry, "b"), "b[0]")
        last = to_decimal(_first(entry, "c"), "c[0]")
        return Reading(
            Observation(
                source=self.name,
                price=mid_or_last(bid, ask, last),
                quote="USD",
                bid=bid,
                ask=ask,
                received_at=received_at,
            )
        )
