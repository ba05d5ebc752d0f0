"""Trading test helpers: put a price in place the way the pricing selector reads it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.core.cache import cache

from pricing.selectors import last_price_key, latest_price_key


def set_price(
    price: Decimal,
    *,
    sources=("pyth", "coinbase"),
    age_seconds: float = 0,
    mode: str = "live",
    symbol: str = "SOL-USD",
) -> None:
    """``symbol``'s index record as an accepted tick leaves it: the fresh one and the last one."""
    computed_at = datetime.now(timezone.utc) - timedelta(seconds=age_seconds)
    record = {
        "symbol": symbol,
        "price": str(price),
        "bid": None,
        "ask": None,
        "sources": list(sources),
        "computed_at": computed_at.isoformat().replace("+00:00", "Z"),
        "mode": mode,
    }
    cache.set_many({latest_price_key(symbol): record, last_price_key(symbol): record}, timeout=300)


def clear_price(symbol: str = "SOL-USD") -> None:
    """No price at all for ``symbol``'s index: neither a fresh record nor a last one."""
    cache.delete_many([latest_price_key(symbol), last_price_key(symbol)])


def expire_price(symbol: str = "SOL-USD") -> None:
    """The fresh record is gone (stale); the last accepted one stays (valuation at it, flagged)."""
    cache.delete(latest_price_key(symbol))


def order_body(**overrides) -> dict:
    body = {"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "1", "client_order_id": "o-1"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}
