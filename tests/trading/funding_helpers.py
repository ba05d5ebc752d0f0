"""Helpers for the funding tests: an index record with a perp's ``perps`` entry (the way
``pricing.marks`` documents it), positions opened by the command, a funding time in the past."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.core.cache import cache

from pricing.selectors import last_price_key, latest_price_key
from trading.funding_maths import funding_time_at_or_before


def set_perp(
    index: Decimal, *, mark: Decimal | None = None, rate: Decimal | None = None, symbol: str = "SOL-PERP",
    index_symbol: str = "SOL-USD",
) -> None:  # fmt: skip
    """The index record as an accepted tick leaves it, with ``symbol``'s ``perps`` entry: the
    venues' mark (``None``: none published, the mark is the index) and funding rate (``None``:
    none published, the premium formula applies)."""
    entry: dict = {"mark_sources": [], "funding_sources": []}
    if mark is not None:
        entry.update(mark=str(mark), mark_sources=["backpack", "binance"])
    if rate is not None:
        entry.update(funding_rate=str(rate), funding_sources=["backpack", "binance"])
    record = {
        "symbol": index_symbol, "price": str(index), "bid": None, "ask": None, "sources": ["pyth", "coinbase"],
        "computed_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "mode": "live",
        "perps": {symbol: entry},
    }  # fmt: skip
    cache.set_many({latest_price_key(index_symbol): record, last_price_key(index_symbol): record}, timeout=300)


def last_funding_time() -> datetime:
    """The latest funding time (hourly) at or before now."""
    return funding_time_at_or_before(datetime.now(timezone.utc), interval_hours=1)


def backdate(position, *, to: datetime) -> None:
    """The position as if opened at ``to`` (before the funding time it is to pay at)."""
    from trading.models import Position

    Position.objects.filter(pk=position.pk).update(opened_at=to - timedelta(minutes=5))
