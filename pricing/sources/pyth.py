"""Pyth Hermes: ``GET /v2/updates/price/latest?ids[]=…&parsed=true``.

``price``/``conf`` are integer strings scaled by ``10**expo``; ``publish_time`` is
unix seconds. An unknown id answers 404 with a plain-text body
(``Price ids not found: …``). The USDC/USD and USDT/USD feeds ride along in the
same request and become the stablecoin rates the aggregator checks.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    from_unix,
    snippet,
    to_decimal,
)

SOL_USD_FEED = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"
USDC_USD_FEED = "eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"
USDT_USD_FEED = "2b89b9dc8fdf9f34709a5b106b472f0f39bb6ca9ce04b0fd7f2e971688e2e53b"
STABLE_FEEDS = {USDC_USD_FEED: "USDC", USDT_USD_FEED: "USDT"}


def scaled(block: dict[str, Any], key: str) -> Decimal:
    expo = block.get("expo")
    if not isinstance(expo, int) or isinstance(expo, bool) or not -30 <= expo <= 30:
        raise SourceError(f"bad expo: {expo!r}")
    raw = block.get(key)
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise SourceError(f"{key} is not an integer string: {raw!r}")
    return to_decimal(raw, key).scaleb(expo)


class PythHermes(PriceSource):
    name = "pyth"
    quote = "USD"
    default_url = "https://hermes.pyth.network"

    def request(self) -> HttpRequestSpec:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        ids = [("ids[]", feed) for feed in (SOL_USD_FEED, USDC_USD_FEED, USDT_USD_FEED)]
        return HttpRequestSpec("/v2/updates/price/latest", [*ids, ("parsed", "true")], headers)

    def check_error(self, *, status: int, body: bytes) -> None:
        if status == 404:
            raise SourceError(f"Hermes 404: {snippet(body)}", http_status=404)

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:
        parsed = payload.get("parsed") if isinstance(payload, dict) else None
        if not isinstance(parsed, list):
            raise SourceError("no 'parsed' list in the Hermes response")
        sol: Observation | None = None
        rates: dict[str, Decimal] = {}
        for entry in parsed:
            if not isinstance(entry, dict) or not isinstance(entry.get("price"), dict):
                continue
            feed = str(entry.get("id", "")).lower().removeprefix("0x")
            block = entry["price"]
            if feed == SOL_USD_FEED:
                ema = entry.get("ema_price")
                publish_time = block.get("publish_time")
                if not isinstance(publish_time, int) or isinstance(publish_time, bool):
                    raise SourceError(f"bad publish_time: {publish_time!r}")
                sol = Observation(
                    source=self.name,
                    price=scaled(block, "price"),
                    quote="USD",
                    conf=scaled(block, "conf"),
                    ema_price=scaled(ema, "price") if isinstance(ema, dict) else None,
                    source_time=from_unix(publish_time, "publish_time"),
                    received_at=received_at,
                )
            elif feed in STABLE_FEEDS:
                try:
                    rates[STABLE_FEEDS[feed]] = scaled(block, "price")
                except SourceError:
                    continue
        if sol is None:
            raise SourceError("the SOL/USD feed is absent from the Hermes response")
        return Reading(observation=sol, stable_rates=rates)
