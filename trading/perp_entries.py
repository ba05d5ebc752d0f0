"""Pure maths of a position's limit entry (no Django; docs/positions.md, "Limit entries").

A limit entry is an order of ``side`` (long buys, short sells) on a perp market, sized by ``qty``
or by ``margin`` at the limit price ``X`` (``q = floor(M·L / X, token unit)``), that opens or
increases the trader's position when the index comes to ``X``:

* **Hold.** ``margin + taker fee`` of the open at ``X``: ``notional = ceil(q·X, 1e-6)``,
  ``margin = ceil(notional / L, 1e-6)``, ``fee = ceil(notional · POSITION_FEE_BPS / 10^4, 1e-6)``,
  moved from free to locked USD while it rests. The size rules apply at ``X``.
* **Marketable on arrival**: a long whose ``X`` is at or above the index, a short at or below it.
  It fills at once as the taker at the slipped market price (a market order's open) when that
  price is within ``X``; otherwise it rests (gtc/gtd) or is canceled (ioc/fok).
* **Maker fill.** A resting entry fills on the first accepted tick at or below ``X`` (long; at or
  above for a short) at ``X`` itself, without slippage, with the maker fee
  (``TRADING_MAKER_FEE_BPS``) -- never more than it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from core.money import dec_str
from trading.execution import RuleViolation, SlippageModel, fill_price, slippage_bps
from trading.margin import LONG, OpenPlan, PerpRules, leverage_breach, plan_open_at, taker_side


@dataclass(frozen=True)
class EntryPlan:
    qty: Decimal
    at_limit: OpenPlan  # the open at the limit price (taker fee): what the hold covers
    hold: Decimal  # USD: at_limit.margin + at_limit.fee
    crossed: bool  # marketable on arrival
    taker: OpenPlan | None  # the open at the slipped market price, when within the limit


def order_side(side: str) -> str:
    """A long entry buys, a short entry sells."""
    return taker_side(side, opening=True)


def position_side(order_side: str) -> str:
    return LONG if order_side == "buy" else "short"


def entry_crossed(side: str, *, limit_price: Decimal, price: Decimal) -> bool:
    """Is ``price`` (the index) at or through the limit: a long's at or below, a short's at or above?"""
    return price <= limit_price if side == LONG else price >= limit_price


def plan_entry(
    *,
    side: str,
    index_price: Decimal,
    limit_price: Decimal,
    leverage: Decimal,
    margin: Decimal | None,
    qty: Decimal | None,
    rules: PerpRules,
    model: SlippageModel,
) -> EntryPlan:
    """The entry's size, hold and, when marketable within its limit, its taker open; or a
    ``RuleViolation`` (leverage, lot, size at the limit price)."""
    if (margin is None) == (qty is None):
        raise ValueError("exactly one of margin and qty")
    if leverage_breach(leverage, rules.max_leverage) is not None:
        raise RuleViolation(
            "leverage_out_of_range",
            f"Leverage must be between 1 and {rules.max_leverage}.",
            max_leverage=dec_str(rules.max_leverage),
            leverage=dec_str(leverage),
        )
    if qty is None:
        assert margin is not None
        qty = (margin * leverage / limit_price).quantize(rules.qty_quant, rounding=ROUND_DOWN)
    elif qty % rules.qty_step != 0:
        raise RuleViolation(
            "qty_off_step",
            f"Position quantity must be a multiple of {rules.qty_step} {rules.asset}.",
            qty_step=dec_str(rules.qty_step),
            qty=dec_str(qty),
        )
    at_limit = plan_open_at(
        side=side, index_price=index_price, entry_price=limit_price, qty=qty, leverage=leverage, rules=rules
    )
    crossed = entry_crossed(side, limit_price=limit_price, price=index_price)
    taker = None
    if crossed:
        bps = slippage_bps(model, qty * index_price)
        entry = fill_price(order_side(side), index_price, bps, rules.price_tick)
        if entry_crossed(side, limit_price=limit_price, price=entry):  # within the limit
            taker = plan_open_at(
                side=side, index_price=index_price, entry_price=entry, qty=qty, leverage=leverage, rules=rules
            )
    return EntryPlan(qty, at_limit, at_limit.margin + at_limit.fee, crossed, taker)


def plan_maker_open(
    *, side: str, index_price: Decimal, limit_price: Decimal, qty: Decimal, leverage: Decimal, rules: PerpRules,
    maker_fee_bps: Decimal,
) -> tuple[OpenPlan, PerpRules]:  # fmt: skip
    """The resting entry's fill at its own price with the maker fee, and the rules that charge it
    (the order is one fill price for what it closes and what it opens)."""
    maker = replace(rules, fee_bps=maker_fee_bps)
    plan = plan_open_at(
        side=side, index_price=index_price, entry_price=limit_price, qty=qty, leverage=leverage, rules=maker
    )
    return plan, maker
