"""The read-only numbers the pages need for their previews (display-only estimates).

Markets and their rules (lot and tick, notional bounds, leverage and maintenance margin, status)
come from the market registry (``pricing.markets.market_list()``), one entry per listed market in
display order, shaped as the markets API's ``MarketOut`` minus the price. Fees and the slippage
model come from settings (and, for resting orders, the maker fee, the price band and the open-order
cap); the leverage fee falls back to the documented default while the
positions settings are not defined. Decimals are strings, as everywhere in the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from pricing.markets import MarketSpec, market_list

# First setting name found wins: the positions work may name them either way.
_FALLBACKS: dict[str, tuple[tuple[str, ...], str]] = {
    "position_fee_bps": (("POSITION_FEE_BPS", "TRADING_FEE_BPS"), "10"),
}


def _setting(names: tuple[str, ...], default: str) -> str:
    for name in names:
        value = getattr(settings, name, None)
        if value is not None:
            return str(value)
    return default


def _dec(name: str, default: str) -> str:
    return str(Decimal(str(getattr(settings, name, default))))


def _str(value: Decimal | None) -> str | None:
    """A plain decimal string without exponent or trailing zeros (``1E-9`` -> ``0.000000001``)."""
    return None if value is None else format(value.normalize(), "f")


def market_config(market: MarketSpec) -> dict[str, Any]:
    """One market as the pages read it: identity, status and rules (no price: that is live)."""
    return {
        "symbol": market.symbol,
        "kind": market.kind,
        "status": market.status,
        "base": {"code": market.base.code, "name": market.base.name, "mint": market.base.mint},
        "quote": market.quote,
        "index_symbol": market.index_symbol,
        "rules": {
            "qty_step": _str(market.qty_step),
            "min_qty": _str(market.min_qty),
            "min_notional": _str(market.min_notional),
            "max_notional": _str(market.max_notional),
            "price_tick": _str(market.price_tick),
            "max_leverage": _str(market.max_leverage),
            "mmr": _str(market.mmr),
        },
    }


def page_config() -> dict[str, Any]:
    return {
        "symbol": "SOL-USD",  # the default market of the trade page
        "perp_symbol": "SOL-PERP",
        "markets": [market_config(market) for market in market_list()],
        "ws_path": "/ws/",
        "stack_mode": settings.STACK_MODE,
        "price_stale_seconds": int(getattr(settings, "PRICE_STALE_SECONDS", 15)),
        "spot": {
            "fee_bps": _dec("TRADING_FEE_BPS", "10"),
            "spread_bps": _dec("TRADING_SPREAD_BPS", "2"),
            "impact_bps": _dec("TRADING_IMPACT_BPS", "10"),
            "impact_ref_notional": _dec("TRADING_IMPACT_REF_NOTIONAL", "100000"),
            "max_slippage_bps": _dec("TRADING_MAX_SLIPPAGE_BPS", "200"),
            # resting orders (docs/trading.md, "Limit orders"): the maker fee of a resting fill, the
            # price band around the index and the cap on open orders the ticket explains
            "maker_fee_bps": _dec("TRADING_MAKER_FEE_BPS", "2"),
            "price_band_pct": _dec("TRADING_PRICE_BAND_PCT", "50"),
            "max_open_orders": int(getattr(settings, "TRADING_MAX_OPEN_ORDERS", 200)),
        },
        "leverage": {key: _setting(names, default) for key, (names, default) in _FALLBACKS.items()},
    }
