"""Alpaca assets from our market registry (``pricing.markets``): the symbol forms and the object.

A spot market ``SOL-USD`` is Alpaca's crypto asset ``SOL/USD`` (orders, assets) or ``SOLUSD``
(positions). Its id is a UUID derived from the symbol (``uuid5``), so it is stable across
processes and restarts without a column of its own. Perps are not Alpaca crypto assets: only
spot markets are served.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from core.errors import DomainError
from pricing.markets import MarketSpec, market_list, registry_get
from pricing.models import MarketKind, MarketStatus

ASSET_NAMESPACE = uuid.UUID("6f1b7c1e-5a0e-4c59-9a39-2f3f0f1d0a19")  # fixed: asset ids must never change


class AssetNotFound(DomainError):
    status = 404
    code = "asset_not_found"
    message = "asset not found"


def asset_id(market: MarketSpec) -> uuid.UUID:
    return uuid.uuid5(ASSET_NAMESPACE, market.symbol)


def order_symbol(market: MarketSpec) -> str:
    """``SOL/USD``: how Alpaca names a crypto pair on orders and assets."""
    return f"{market.base.code}/{market.quote}"


def position_symbol(market: MarketSpec) -> str:
    """``SOLUSD``: how Alpaca names a crypto pair on positions."""
    return f"{market.base.code}{market.quote}"


def spot_markets(*, include_delisted: bool = False) -> list[MarketSpec]:
    return [m for m in market_list(include_delisted=include_delisted) if m.kind == MarketKind.SPOT]


def market_resolve(symbol_or_id: str, *, include_delisted: bool = False) -> MarketSpec:
    """The spot market named ``SOL/USD``, ``SOLUSD``, ``SOL-USD`` (any case) or by its asset id;
    ``AssetNotFound`` otherwise (a perp too)."""
    wanted = symbol_or_id.strip()
    markets = spot_markets(include_delisted=include_delisted)
    try:
        as_id = uuid.UUID(wanted)
    except ValueError:
        key = wanted.upper().replace("/", "").replace("-", "")
        for market in markets:
            if position_symbol(market) == key:
                return market
    else:
        for market in markets:
            if asset_id(market) == as_id:
                return market
    raise AssetNotFound(extra={"symbol": wanted[:64]})


def market_of_symbol(symbol: str) -> MarketSpec | None:
    """The registry's market ``symbol`` (``SOL-USD``), any status; ``None`` if unknown."""
    return registry_get().markets.get(symbol)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def asset_object(market: MarketSpec) -> dict[str, Any]:
    """Alpaca's Asset: ``class`` crypto, exchange ``CRYPTO``, spot only (not marginable or
    shortable), fractionable, the lot rules as ``min_order_size``/``min_trade_increment``/
    ``price_increment``. ``tradable`` is false while the market is halted or delisted."""
    return {
        "id": str(asset_id(market)),
        "class": "crypto",
        "exchange": "CRYPTO",
        "symbol": order_symbol(market),
        "name": f"{market.base.name} / US Dollar",
        "status": "inactive" if market.status == MarketStatus.DELISTED else "active",
        "tradable": market.status == MarketStatus.ACTIVE,
        "marginable": False,
        "maintenance_margin_requirement": 100,
        "margin_requirement_long": "100",
        "margin_requirement_short": "100",
        "shortable": False,
        "easy_to_borrow": False,
        "fractionable": True,
        "attributes": [],
        "min_order_size": _num(market.min_qty),
        "min_trade_increment": _num(market.qty_step),
        "price_increment": _num(market.price_tick),
    }
