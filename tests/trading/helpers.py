"""Trading test helpers: put a price in place the way the pricing selector reads it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.core.cache import cache

from pricing.selectors import LATEST_PRICE_KEY


def set_price(price: Decimal, *, sources=("pyth", "coinbase"), age_seconds: float = 0, mode: str = "live") -> None:
    computed_at = datetime.now(timezone.utc) - timedelta(seconds=age_seconds)
    cache.set(
        LATEST_PRICE_KEY,
        {
            "symbol": "SOL-USD",
            "price": str(price),
            "bid": None,
            "ask": None,
            "sources": list(sources),
            "computed_at": computed_at.isoformat().replace("+00:00", "Z"),
            "mode": mode,
        },
        timeout=300,
    )


def clear_price() -> None:
    cache.delete(LATEST_PRICE_KEY)


def order_body(**overrides) -> dict:
    body = {"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "1", "client_order_id": "o-1"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}
