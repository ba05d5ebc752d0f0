"""Pyth Hermes: ``GET /v2/updates/price/latest?ids[]=<feed>&ids[]=<feed>…&parsed=true``.

Many feeds per request. ``price``/``conf`` are integer strings scaled by ``10**expo``;
``publish_time`` is unix seconds. Ids are matched lower-case without ``0x`` (Hermes answers
them so). A feed missing from ``parsed`` is that instrument's error; an id Hermes does not know
at all fails the whole request with a plain-text 404 (``Price ids not found: …``), which
``pricing.fetch`` answers by asking again one feed per request. The USDC/USD and USDT/USD feeds
ride along in every request and become the stablecoin rates the aggregator checks.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    per_instrument,
    snippet,
    to_decimal,
)

SOL_USD_FEED = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"
USDC_USD_FEED = "eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"
USDT_USD_FEED = "2b89b9dc8fdf9f34709a5b106b472f0f39bb6ca9ce04b0fd7f2e971688e2e53b"
STABLE_FEEDS = {USDC_USD_FEED: "USDC", USDT_USD_FEED: "USDT"}


def feed_key(raw: object) -> str:
    return str(raw).strip().lower().removeprefix("0x")


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
    batch_size = 100

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        feeds = dict.fromkeys([*(feed_key(i) for i in ids), USDC_USD_FEED, USDT_USD_FEED])
        params = [*(("ids[]", feed) for feed in feeds), ("parsed", "true")]
        return HttpRequestSpec("/v2/updates/price/latest", params, headers)

    def check_error(self, *, status: int, body: bytes) -> None:
        if status == 404:
            raise SourceError(f"Hermes 404: {snippet(body)}", http_status=404, unknown_id=True)

    def _observation(self, entry: dict[str, Any], received_at: datetime) -> Observation:
        block = entry["price"]
        ema = entry.get("ema_price")
        publish_time = block.get("publish_time")
        if not isinstance(publish_time, int) or isinstance(publish_time, bool):
            raise SourceError(f"bad publish_time: {publish_time!r}")
        return Observation(
            source=self.name,
            price=scaled(block, "price"),
            quote="USD",
            conf=scaled(block, "conf"),
            ema_price=scaled(ema, "price") if isinstance(ema, dict) else None,
            source_time=from_unix(publish_time, "publish_time"),
            received_at=received_at,
        )

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        parsed = payload.get("parsed") if isinstance(payload, dict) else None
        if not isinstance(parsed, list):
            raise SourceError("no 'parsed' list in the Hermes response")
        entries = {
            feed_key(entry.get("id", "")): entry
            for entry in parsed
            if isinstance(entry, dict) and isinstance(entry.get("price"), dict)
        }
        rates: dict[str, Decimal] = {}
        for feed, stable in STABLE_FEEDS.items():
            if feed in entries:
                try:
                    rates[stable] = scaled(entries[feed]["price"], "price")
                except SourceError:
                    continue
        by_id = {instrument: entries.get(feed_key(instrument)) for instrument in ids}
        reading = per_instrument(
            ids, {k: v for k, v in by_id.items() if v is not None}, lambda _i, e: self._observation(e, received_at)
        )
        errors = {i: f"feed {i[:8]}… is absent from the Hermes response" for i in reading.errors if by_id[i] is None}
        return Reading(reading.observations, {**reading.errors, **errors}, rates)
