"""The latest price a bench child writes for the indexes it ticks (what ``price_get_latest`` reads),
shared by the liquidation and trigger benches. Runs inside ``django.setup()``."""

from __future__ import annotations

from datetime import datetime, timezone


def bench_price_set(price, indexes: list[str], *, timeout: int = 600) -> None:
    """``price`` as the fresh latest record of each of ``indexes`` (source "bench", mode live)."""
    from django.core.cache import cache

    from pricing.selectors import latest_price_key

    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for index in indexes:
        record = {"symbol": index, "price": str(price), "sources": ["bench"], "computed_at": now, "mode": "live"}
        cache.set(latest_price_key(index), record, timeout=timeout)
