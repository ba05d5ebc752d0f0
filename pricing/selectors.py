"""Reads of market data. The API and WebSockets read the latest price from the
cache (Redis in the real stack) only; they never call a price source."""

from __future__ import annotations

from datetime import datetime, timezone

from django.core.cache import cache

LATEST_PRICE_KEY = "price:latest:SOL-USD"


def price_latest_record() -> dict | None:
    """The latest aggregated price record, or ``None`` when missing (= stale)."""
    return cache.get(LATEST_PRICE_KEY)


def price_latest_age_seconds(*, now: datetime | None = None) -> float | None:
    record = price_latest_record()
    if not record:
        return None
    computed_at = datetime.fromisoformat(record["computed_at"].replace("Z", "+00:00"))
    return ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
