"""Perp markets as trading reads them from the registry (``pricing.markets``): each market's rules
for the pure maths, which perp markets trade on an index, and the client-price tick rule (every
market's: a limit order's ``limit_price`` passes it too).

A position's market is its ``symbol`` (``SOL-PERP``, ``BONK-PERP``); its price is the market's
index (``SOL-USD``). Closing and liquidation read the market whatever its status (a halted or
delisted market's positions still close and liquidate); opening asks
``pricing.markets.market_for_trading(..., opening=True)``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from core.errors import DomainError
from core.money import PRICE_QUANT, SOL_QUANT, dec_str
from pricing.markets import MarketNotFound, MarketSpec, market_get, registry_get
from trading.margin import PerpRules, on_tick


class PriceOffTick(DomainError):
    status = 422
    code = "price_off_tick"
    message = "The price is not a multiple of the market's price tick."


def perp_rules(market: MarketSpec) -> PerpRules:
    """The market row's rules; the fee stays global (``POSITION_FEE_BPS``)."""
    if market.max_leverage is None or market.mmr is None:
        raise ValueError(f"{market.symbol} is not a perp market")
    return PerpRules(
        max_leverage=market.max_leverage,
        mmr=market.mmr,
        fee_bps=settings.POSITION_FEE_BPS,
        min_qty=market.min_qty,
        qty_step=market.qty_step,
        min_notional=market.min_notional,
        max_notional=market.max_notional,
        price_tick=market.price_tick,
        qty_quant=max(market.base.quantum, SOL_QUANT),  # never finer than the NUMERIC(38, 9) columns
        asset=market.asset,
    )


def perp_market_of(symbol: str) -> MarketSpec:
    """A position's market, whatever its status (closing and liquidation are never blocked)."""
    return market_get(symbol)


def price_tick_of(symbol: str) -> Decimal:
    """The price tick of a position's market (``PRICE_QUANT`` for a symbol the registry lost)."""
    market = registry_get().markets.get(symbol)
    return market.price_tick if market is not None else PRICE_QUANT


def perp_markets_by_index() -> dict[str, list[str]]:
    """``{index symbol: [perp market symbols on it]}`` over every perp market, halted and delisted
    included: the engine liquidates whatever is open on a market."""
    out: dict[str, list[str]] = {}
    for market in registry_get().markets.values():
        if market.is_perp:
            out.setdefault(market.index_symbol, []).append(market.symbol)
    return out


def perp_symbol_for_asset(asset: str) -> str:
    """The seed routes name a market by its base asset (``"SOL"`` -> ``SOL-PERP``): the first perp
    market on that token (display order); 404 ``market_not_found`` when there is none."""
    for market in registry_get().markets.values():
        if market.is_perp and market.asset == asset:
            return market.symbol
    raise MarketNotFound(f"No perp market on {str(asset)[:16]}.", extra={"asset": str(asset)[:16]})


def index_symbol_of(symbol: str) -> str | None:
    """The index a position's market reads (``None`` for a symbol the registry does not know)."""
    market = registry_get().markets.get(symbol)
    return market.index_symbol if market is not None else None


def check_price_on_tick(price: Decimal | None, market: MarketSpec, *, field: str = "price") -> None:
    """A client-sent price must be on the market's tick: 422 ``price_off_tick``, nothing done."""
    if price is not None and not on_tick(price, market.price_tick):
        raise PriceOffTick(
            f"{field} must be a multiple of {market.symbol}'s price tick {dec_str(market.price_tick)}.",
            extra={"field": field, "symbol": market.symbol, "price_tick": dec_str(market.price_tick),
                   "price": dec_str(price)},
        )  # fmt: skip
