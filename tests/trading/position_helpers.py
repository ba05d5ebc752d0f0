"""Helpers for position tests: open through the API, run the engine on a tick."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tests.trading.helpers import set_price


def open_body(**overrides) -> dict:
    body = {"symbol": "SOL-PERP", "side": "long", "margin": "100", "leverage": "10", "client_order_id": "p-1"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def open_position(client, **overrides) -> dict:
    response = client.post("/api/v1/positions", open_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def tick(price: Decimal) -> list[str]:
    """An accepted index tick at ``price`` (stored as the latest price) run through the engine."""
    from trading.services.liquidation import liquidation_run

    set_price(price)
    return liquidation_run(price=price, computed_at=datetime.now(timezone.utc)).liquidated


def user_events(user, event_type: str) -> list[dict]:
    from realtime.models import UserEvent

    return [e.payload for e in UserEvent.objects.filter(user=user, type=event_type).order_by("seq")]


def market_set(symbol: str = "SOL-PERP", **fields) -> None:
    """Change a market's registry row (``mmr=D(0)``, ``status="halted"`` ...) and save it (the
    save clears the registry cache: the next command reads the new rules)."""
    from pricing.models import Market

    market = Market.objects.get(symbol=symbol)
    for name, value in fields.items():
        setattr(market, name, value)
    market.save()


def set_index_price(index_symbol: str, price: Decimal, *, age_seconds: float = 0) -> datetime:
    """Put ``price`` in place as the latest record of ``index_symbol`` (``BONK-USD``) the way the
    pricing selector reads it, without running the engine; returns its ``computed_at``."""
    from django.core.cache import cache

    from core.timefmt import iso_utc
    from pricing.selectors import last_price_key, latest_price_key

    computed_at = datetime.now(timezone.utc) - timedelta(seconds=age_seconds)
    record = {
        "symbol": index_symbol, "price": str(price), "bid": None, "ask": None, "sources": ["pyth", "coinbase"],
        "computed_at": iso_utc(computed_at, timespec="microseconds"), "mode": "synthetic",
    }  # fmt: skip
    cache.set(latest_price_key(index_symbol), record, timeout=300)
    cache.set(last_price_key(index_symbol), record, timeout=None)
    return computed_at


def index_tick(index_symbol: str, price: Decimal) -> list[str]:
    """An accepted tick of ``index_symbol`` at ``price`` run through the engine (inline)."""
    from trading.services.liquidation import liquidation_run

    computed_at = set_index_price(index_symbol, price)
    return liquidation_run(price=price, computed_at=computed_at, index_symbol=index_symbol).liquidated


def perp_book_setup(settings, **overrides: Decimal) -> None:
    """The hand figures' book: no slippage (spread and impact 0), SOL-PERP's maintenance margin
    rate 0.5 %, SOL at 100; ``overrides``: settings on top (``POSITION_FEE_BPS=Decimal(10)`` ...)."""
    settings.TRADING_SPREAD_BPS = Decimal(0)
    settings.TRADING_IMPACT_BPS = Decimal(0)
    for name, value in overrides.items():
        setattr(settings, name, value)
    market_set("SOL-PERP", mmr=Decimal("0.005"))
    set_price(Decimal(100))
