"""Pure execution maths for market orders (no Django): slippage, price, fee, lot rules.

Slippage (basis points) for an order of notional N (USD, at the index price)::

    slippage_bps = min(max_bps, spread_bps / 2 + impact_bps * sqrt(N / impact_ref_notional))

A buy fills at ``index * (1 + bps/10^4)`` rounded up, a sell at ``index * (1 - bps/10^4)``
rounded down (to the market's ``price_tick``): the taker always pays. Fee = ``notional * fee_bps / 10^4``
rounded up to ``USD_QUANT``. A buy costs ``notional + fee`` (notional rounded up), a sell
yields ``notional - fee`` (notional rounded down).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_UP, Decimal

from core.money import BPS, PRICE_QUANT, dec_str, usd_down, usd_up

BPS_QUANT = Decimal("0.0001")


@dataclass(frozen=True)
class MarketRules:
    min_qty: Decimal
    qty_step: Decimal
    min_notional: Decimal
    max_notional: Decimal
    price_tick: Decimal = PRICE_QUANT
    asset: str = "SOL"  # what the quantity counts, for the messages


@dataclass(frozen=True)
class SlippageModel:
    spread_bps: Decimal
    impact_bps: Decimal
    impact_ref_notional: Decimal
    max_bps: Decimal


@dataclass(frozen=True)
class Execution:
    side: str
    qty: Decimal
    price: Decimal
    index_price: Decimal
    notional: Decimal
    fee: Decimal
    slippage_bps: Decimal

    @property
    def cash_delta(self) -> Decimal:
        """USD change of the trader: ``-(notional + fee)`` for a buy, ``notional - fee`` for a sell."""
        return -(self.notional + self.fee) if self.side == "buy" else self.notional - self.fee


class RuleViolation(Exception):
    def __init__(self, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def slippage_bps(model: SlippageModel, notional: Decimal) -> Decimal:
    impact = model.impact_bps * (abs(notional) / model.impact_ref_notional).sqrt()
    return min(model.max_bps, model.spread_bps / 2 + impact)


def to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """``price`` on the grid of ``tick`` (a power of ten or any positive step), up or down."""
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


def fill_price(side: str, index_price: Decimal, bps: Decimal, tick: Decimal = PRICE_QUANT) -> Decimal:
    """The index moved ``bps`` against the taker (a buy pays more), rounded against it to ``tick``:
    the market's price tick (spot orders and positions alike)."""
    if side == "buy":
        return to_tick(index_price * (1 + bps / BPS), tick, up=True)
    return to_tick(index_price * (1 - bps / BPS), tick, up=False)


def _floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def check_notional(rules: MarketRules, notional: Decimal) -> None:
    if notional < rules.min_notional:
        raise RuleViolation(
            "notional_below_min",
            f"Order notional is below the minimum of {rules.min_notional} USD.",
            min_notional=dec_str(rules.min_notional),
            notional=dec_str(notional),
        )
    if notional > rules.max_notional:
        raise RuleViolation(
            "notional_above_max",
            f"Order notional is above the maximum of {rules.max_notional} USD.",
            max_notional=dec_str(rules.max_notional),
            notional=dec_str(notional),
        )


def check_lot(
    qty: Decimal, *, min_qty: Decimal, qty_step: Decimal, what: str = "Order quantity", asset: str = "SOL"
) -> None:
    """A quantity names a lot: at least ``min_qty`` and a multiple of ``qty_step``."""
    if qty < min_qty:
        raise RuleViolation(
            "qty_below_min",
            f"{what} is below the minimum of {min_qty} {asset}.",
            min_qty=dec_str(min_qty),
            qty=dec_str(qty),
        )
    if qty % qty_step != 0:
        raise RuleViolation(
            "qty_off_step",
            f"{what} must be a multiple of {qty_step} {asset}.",
            qty_step=dec_str(qty_step),
            qty=dec_str(qty),
        )


def _check_qty(rules: MarketRules, qty: Decimal) -> None:
    check_lot(qty, min_qty=rules.min_qty, qty_step=rules.qty_step, asset=rules.asset)


def plan_market_order(
    *,
    side: str,
    index_price: Decimal,
    qty: Decimal | None,
    notional: Decimal | None,
    rules: MarketRules,
    model: SlippageModel,
    fee_bps: Decimal,
) -> Execution:
    """The fill a market order gets at ``index_price``, or ``RuleViolation``."""
    if qty is not None and notional is None:
        _check_qty(rules, qty)
        bps = slippage_bps(model, qty * index_price)
        price = fill_price(side, index_price, bps, rules.price_tick)
    elif notional is not None and qty is None:
        check_notional(rules, notional)
        bps = slippage_bps(model, notional)
        price = fill_price(side, index_price, bps, rules.price_tick)
        qty = _floor_to_step(notional / price, rules.qty_step)
        if qty < rules.min_qty:
            _check_qty(rules, qty)
    else:
        raise ValueError("exactly one of qty and notional")
    raw = qty * price
    exec_notional = usd_up(raw) if side == "buy" else usd_down(raw)
    check_notional(rules, exec_notional)
    fee = usd_up(exec_notional * fee_bps / BPS)
    effective_bps = (abs(price - index_price) / index_price * BPS).quantize(BPS_QUANT, rounding=ROUND_UP)
    return Execution(
        side=side,
        qty=qty,
        price=price,
        index_price=index_price,
        notional=exec_notional,
        fee=fee,
        slippage_bps=effective_bps,
    )
