"""Pure maths of net positions (no Django): one open position per user and market.

* An order on the position's own side increases it (``plan_increase``): quantities and margins
  add, the entry is the size-weighted average.
* An order on the other side reduces, closes or flips it (``net_split``): it closes up to the
  position's size at the order's one fill price, and opens what is left on its own side.
* A partial close names a lot (``check_close_qty``) and never leaves dust below ``min_qty``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import dec_str, usd_up
from trading.execution import RuleViolation, check_lot, to_tick
from trading.margin import LONG, ZERO, OpenPlan, PerpRules, liquidation_price


def check_close_qty(*, close_qty: Decimal, rules: PerpRules) -> None:
    """A partial close names a lot, like an order: at least ``min_qty``, a multiple of ``qty_step``."""
    check_lot(
        close_qty, min_qty=rules.min_qty, qty_step=rules.qty_step, what="The quantity to close", asset=rules.asset
    )


def net_split(*, position_qty: Decimal, order_qty: Decimal, min_qty: Decimal) -> tuple[Decimal, Decimal]:
    """``(close_qty, open_qty)`` of an order against an open position of the other side.

    Smaller than the position: it reduces it, unless the remainder would be below ``min_qty``
    (dust), then it closes it all. Larger: it closes it and opens the rest on its own side,
    unless that rest is below ``min_qty`` (then it only closes).
    """
    if order_qty < position_qty:
        return (position_qty, ZERO) if position_qty - order_qty < min_qty else (order_qty, ZERO)
    rest = order_qty - position_qty
    return position_qty, rest if rest >= min_qty else ZERO


@dataclass(frozen=True)
class IncreasePlan:
    qty: Decimal
    margin: Decimal
    entry_price: Decimal  # the size-weighted average entry
    leverage: Decimal  # effective: notional at entry / margin
    liquidation_price: Decimal


def plan_increase(
    *, side: str, entry: Decimal, qty: Decimal, margin: Decimal, mmr: Decimal, add: OpenPlan, rules: PerpRules
) -> IncreasePlan:
    """An order on the position's own side adds to it: the quantities and margins add up, the entry
    is the size-weighted average (rounded against the trader to the market's tick), the liquidation price is recomputed.
    The whole position must stay within ``max_notional``."""
    total = qty + add.qty
    raw = (qty * entry + add.qty * add.entry_price) / total
    average = to_tick(raw, rules.price_tick, up=side == LONG)
    notional = total * average
    if notional > rules.max_notional:
        raise RuleViolation(
            "notional_above_max",
            f"The position's notional would be above the maximum of {rules.max_notional} USD.",
            max_notional=dec_str(rules.max_notional),
            notional=dec_str(usd_up(notional)),
        )
    new_margin = margin + add.margin
    leverage = min(rules.max_leverage, max(Decimal(1), (notional / new_margin).quantize(Decimal("0.01"))))
    return IncreasePlan(
        qty=total,
        margin=new_margin,
        entry_price=average,
        leverage=leverage,
        liquidation_price=liquidation_price(side, average, new_margin, total, mmr, rules.price_tick),
    )
