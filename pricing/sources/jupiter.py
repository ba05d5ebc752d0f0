"""Jupiter Price API v3: ``GET /price/v3?ids=<mint>``.

``usdPrice`` is a JSON number (parsed straight to Decimal). A mint without a
reliable price is simply absent (or, in some captures, ``null``). No timestamp.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.sources.base import HttpRequestSpec, Observation, PriceSource, Reading, SourceError, to_decimal

SOL_MINT = "So11111111111111111111111111111111111111112"


class JupiterPrice(PriceSource):
    name = "jupiter"
    quote = "USD"
    default_url = "https://lite-api.jup.ag"

    def request(self) -> HttpRequestSpec:
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        return HttpRequestSpec("/price/v3", [("ids", SOL_MINT)], headers)

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Jupiter response is not an object")
        entry = payload.get(SOL_MINT)
        if not isinstance(entry, dict):
            raise SourceError("Jupiter has no reliable price for SOL (mint absent)")
        price = to_decimal(entry.get("usdPrice"), "usdPrice")
        return Reading(Observation(source=self.name, price=price, quote="USD", received_at=received_at))
