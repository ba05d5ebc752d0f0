"""Reads of market data. The API and WebSockets read the latest price from the
cache (Redis in the real stack) only; they never call a price source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from pricing.errors import PriceStale, PriceUnavailable

LATEST_PRICE_KEY = "price:latest:SOL-USD"


@dataclass(frozen=True)
class PriceQuote:
    """The aggregated SOL-USD index as trading sees it."""

    symbol: str
    price: Decimal
    bid: Decimal | None
    ask: Decimal | None
    sources: tuple[str, ...]
    computed_at: datetime
    mode: str  # "live", "replay" or "synthetic"

    @property
    def source_label(self) -> str:
        return ",".join(self.sources)


def _parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def price_latest_record() -> dict | None:
    """The latest aggregated price record, or ``None`` when missing (= stale)."""
    return cache.get(LATEST_PRICE_KEY)


def price_latest_age_seconds(*, now: datetime | None = None) -> float | None:
    record = price_latest_record()
    if not record:
        return None
    return ((now or datetime.now(timezone.utc)) - _parse_time(record["computed_at"])).total_seconds()


def price_get_latest(*, now: datetime | None = None, max_age_seconds: float | None = None) -> PriceQuote:
    """The latest index, or ``PriceUnavailable`` / ``PriceStale`` (HTTP 503).

    The record carries its own TTL (the staleness budget), so a missing record
    may also mean stale; an old ``computed_at`` is refused explicitly too.
    """
    record = price_latest_record()
    budget = settings.PRICE_STALE_SECONDS if max_age_seconds is None else max_age_seconds
    if not record:
        raise PriceUnavailable(retry_after=2)
    computed_at = _parse_time(record["computed_at"])
    age = ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
    if age > budget or age < -5:
        raise PriceStale(extra={"age_seconds": round(age, 3), "budget_seconds": budget}, retry_after=2)
    return PriceQuote(
        symbol=record.get("symbol", "SOL-USD"),
        price=Decimal(record["price"]),
        bid=Decimal(record["bid"]) if record.get("bid") else None,
        ask=Decimal(record["ask"]) if record.get("ask") else None,
        sources=tuple(record.get("sources") or ()),
        computed_at=computed_at,
        mode=record.get("mode", "live"),
    )
