"""Pure maths of isolated-margin, linear, USD-settled perpetual positions (no Django).

Symbols: margin ``M`` (USD), leverage ``L``, entry ``E``, quantity ``q`` (the market's base
asset), index ``P``, maintenance margin rate ``mmr``. Every rule comes from the market
(``PerpRules``, built from the registry row by ``trading.perp_markets.perp_rules``).

* Fill prices (entry, exit) are the index moved against the taker, rounded against the taker to
  the market's ``price_tick``.
* ``q = M * L / E`` (floored to the token's smallest unit); the taker fee is charged on ``M * L``.
* Unrealized PnL: long ``q * (P - E)``, short ``q * (E - P)``; equity ``M + uPnL``.
* Liquidation when equity falls to the maintenance margin ``mmr * q * P``:
  long ``P_liq = (E - M/q) / (1 - mmr)``, short ``P_liq = (E + M/q) / (1 + mmr)``.
  Rounded to the market's ``price_tick`` towards the entry (long up, short down): never later than the formula.
* Bankruptcy price (equity 0): long ``E - M/q``, short ``E + M/q``.
* Liquidation at tick ``P``: the trader loses ``M`` and never more; the house takes the PnL
  at ``P`` and ``insurance`` gets ``M + PnL`` (negative when the price gapped past bankruptcy).

PnL amounts are floored to ``USD_QUANT`` (a fraction of a micro-dollar never favours the trader);
the mark of an open position (``position_mark``) is a reported valuation: banker's rounding.
Leverage is between 1 and the maximum (``leverage_breach``): checked at the API and by ``plan_open``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from core.money import BPS, PRICE_QUANT, SOL_QUANT, USD_QUANT, dec_str, usd, usd_up
from trading.execution import RuleViolation, SlippageModel, fill_price, slippage_bps, to_tick

LONG, SHORT = "long", "short"
ZERO = Decimal(0)


@dataclass(frozen=True)
class PerpRules:
    """One perp market's rules (defaults: SOL-PERP's precision)."""

    max_leverage: Decimal
    mmr: Decimal
    fee_bps: Decimal
    min_qty: Decimal
    qty_step: Decimal
    min_notional: Decimal
    max_notional: Decimal
    price_tick: Decimal = PRICE_QUANT  # fill and liquidation prices round to it
    qty_quant: Decimal = SOL_QUANT  # a margin-sized open floors its quantity to it (the token's unit)
    asset: str = "SOL"  # the base asset, named in messages


@dataclass(frozen=True)
class OpenPlan:
    side: str
    index_price: Decimal
    entry_price: Decimal
    qty: Decimal
    margin: Decimal
    leverage: Decimal
    notional: Decimal
    fee: Decimal
    slippage_bps: Decimal
    liquidation_price: Decimal


@dataclass(frozen=True)
class ClosePlan:
    qty: Decimal
    index_price: Decimal
    exit_price: Decimal
    released_margin: Decimal
    realized_pnl: Decimal
    fee: Decimal
    payout: Decimal  # to the trader's free USD: max(0, released + pnl - fee)
    insurance: Decimal  # paid by insurance when the loss exceeds the released margin (<= 0)
    remaining_qty: Decimal
    remaining_margin: Decimal


@dataclass(frozen=True)
class Mark:
    """An open position marked to the index, as reported."""

    unrealized_pnl: Decimal
    equity: Decimal  # margin + uPnL
    margin_ratio: Decimal | None
    maintenance_margin: Decimal
    notional: Decimal


@dataclass(frozen=True)
class LiquidationPlan:
    price: Decimal
    margin: Decimal
    pnl: Decimal  # at the tick price, floored
    insurance: Decimal  # M + pnl: residue to the fund (>0) or the gap it pays (<0)


def pnl_floor(value: Decimal) -> Decimal:
    return value.quantize(USD_QUANT, rounding=ROUND_FLOOR)


def unrealized_pnl(side: str, entry: Decimal, qty: Decimal, price: Decimal) -> Decimal:
    """Exact (unrounded) PnL of ``qty`` opened at ``entry`` marked at ``price``."""
    return qty * (price - entry) if side == LONG else qty * (entry - price)


def bankruptcy_price(side: str, entry: Decimal, margin: Decimal, qty: Decimal) -> Decimal:
    return entry - margin / qty if side == LONG else entry + margin / qty


def on_tick(price: Decimal, tick: Decimal) -> bool:
    return price % tick == 0


def liquidation_price(
    side: str, entry: Decimal, margin: Decimal, qty: Decimal, mmr: Decimal, tick: Decimal = PRICE_QUANT
) -> Decimal:
    """The index at which equity equals the maintenance margin (never below 0 for a long), on
    the market's ``tick`` towards the entry."""
    if side == LONG:
        raw = (entry - margin / qty) / (1 - mmr)
        return max(ZERO, to_tick(raw, tick, up=True))
    raw = (entry + margin / qty) / (1 + mmr)
    return to_tick(raw, tick, up=False)


def is_crossed(side: str, liq_price: Decimal, price: Decimal) -> bool:
    """Has ``price`` reached the liquidation price (long at or below, short at or above)?"""
    return price <= liq_price if side == LONG else price >= liq_price


def maintenance_margin(qty: Decimal, price: Decimal, mmr: Decimal) -> Decimal:
    return qty * price * mmr


def margin_ratio(margin: Decimal, pnl: Decimal, qty: Decimal, price: Decimal, mmr: Decimal) -> Decimal | None:
    """Maintenance margin / equity (Binance's definition): liquidation at 1 (or equity <= 0)."""
    equity = margin + pnl
    if equity <= 0:
        return None
    return (maintenance_margin(qty, price, mmr) / equity).quantize(Decimal("0.000001"))


def position_mark(*, side: str, entry: Decimal, qty: Decimal, margin: Decimal, mmr: Decimal, price: Decimal) -> Mark:
    """Mark-to-market of an open position at ``price`` (micro-dollars, banker's rounding)."""
    pnl = unrealized_pnl(side, entry, qty, price)
    return Mark(
        unrealized_pnl=usd(pnl),
        equity=usd(margin + pnl),
        margin_ratio=margin_ratio(margin, pnl, qty, price, mmr),
        maintenance_margin=usd(maintenance_margin(qty, price, mmr)),
        notional=usd(qty * price),
    )


def taker_side(side: str, *, opening: bool) -> str:
    """Opening a long buys, closing it sells; a short the other way round."""
    buys = (side == LONG) == opening
    return "buy" if buys else "sell"


def leverage_breach(leverage: Decimal, max_leverage: Decimal) -> RuleViolation | None:
    """The leverage rule, ``1 <= leverage <= max_leverage``: the limit a leverage breaks
    (``below_min`` / ``too_large``, the API's field error), or ``None``."""
    if leverage < 1:
        return RuleViolation("below_min", "Leverage is at least 1.")
    if leverage > max_leverage:
        return RuleViolation("too_large", f"Leverage is at most {max_leverage}.")
    return None


def check_leverage(rules: PerpRules, leverage: Decimal) -> None:
    """422 ``leverage_out_of_range`` outside 1 .. the market's maximum."""
    if leverage_breach(leverage, rules.max_leverage) is not None:
        raise RuleViolation(
            "leverage_out_of_range",
            f"Leverage must be between 1 and {rules.max_leverage}.",
            max_leverage=dec_str(rules.max_leverage),
            leverage=dec_str(leverage),
        )


def _check_size(rules: PerpRules, qty: Decimal, notional: Decimal) -> None:
    if qty < rules.min_qty or qty <= 0:
        raise RuleViolation(
            "qty_below_min",
            f"Position quantity is below the minimum of {rules.min_qty} {rules.asset}.",
            min_qty=dec_str(rules.min_qty),
            qty=dec_str(qty),
        )
    if notional < rules.min_notional:
        raise RuleViolation(
            "notional_below_min",
            f"Position notional is below the minimum of {rules.min_notional} USD.",
            min_notional=dec_str(rules.min_notional),
            notional=dec_str(notional),
        )
    if notional > rules.max_notional:
        raise RuleViolation(
            "notional_above_max",
            f"Position notional is above the maximum of {rules.max_notional} USD.",
            max_notional=dec_str(rules.max_notional),
            notional=dec_str(notional),
        )


def plan_open(
    *,
    side: str,
    index_price: Decimal,
    leverage: Decimal,
    margin: Decimal | None,
    qty: Decimal | None,
    rules: PerpRules,
    model: SlippageModel,
) -> OpenPlan:
    """The position an open gets at ``index_price``, or ``RuleViolation``.

    By margin: ``notional = M * L``, ``q = floor(notional / E, lamport)``.
    By qty: ``q`` must respect the lot step; ``notional = q * E``, ``M = ceil(notional / L, micro-USD)``.
    """
    if (margin is None) == (qty is None):
        raise ValueError("exactly one of margin and qty")
    check_leverage(rules, leverage)
    if margin is not None:
        notional = margin * leverage
        bps = slippage_bps(model, notional)
        entry = fill_price(taker_side(side, opening=True), index_price, bps, rules.price_tick)
        qty = (notional / entry).quantize(rules.qty_quant, rounding=ROUND_DOWN)
    elif qty is not None:
        if qty % rules.qty_step != 0:
            raise RuleViolation(
                "qty_off_step",
                f"Position quantity must be a multiple of {rules.qty_step} {rules.asset}.",
                qty_step=dec_str(rules.qty_step),
                qty=dec_str(qty),
            )
        bps = slippage_bps(model, qty * index_price)
        entry = fill_price(taker_side(side, opening=True), index_price, bps, rules.price_tick)
        return plan_open_at(
            side=side, index_price=index_price, entry_price=entry, qty=qty, leverage=leverage, rules=rules
        )
    else:  # refused above; the branches tell the type checker
        raise ValueError("exactly one of margin and qty")
    return _open_plan(side, index_price, entry, qty, margin, leverage, notional, rules)


def plan_open_at(
    *, side: str, index_price: Decimal, entry_price: Decimal, qty: Decimal, leverage: Decimal, rules: PerpRules
) -> OpenPlan:
    """Open ``qty`` at a given fill price (an open by quantity, or the rest of an order that closed
    the other side first: one fill price for the whole order); the size rules apply to what opens."""
    notional = usd_up(qty * entry_price)
    margin = usd_up(notional / leverage)
    return _open_plan(side, index_price, entry_price, qty, margin, leverage, notional, rules)


def _open_plan(
    side: str, index_price: Decimal, entry: Decimal, qty: Decimal, margin: Decimal, leverage: Decimal,
    notional: Decimal, rules: PerpRules,
) -> OpenPlan:  # fmt: skip
    """The size rules, the fee, the effective slippage and the liquidation price of an open."""
    _check_size(rules, qty, notional)
    effective = (abs(entry - index_price) / index_price * BPS).quantize(Decimal("0.0001"), rounding=ROUND_CEILING)
    return OpenPlan(
        side=side,
        index_price=index_price,
        entry_price=entry,
        qty=qty,
        margin=margin,
        leverage=leverage,
        notional=notional,
        fee=usd_up(notional * rules.fee_bps / BPS),
        slippage_bps=effective,
        liquidation_price=liquidation_price(side, entry, margin, qty, rules.mmr, rules.price_tick),
    )


def plan_close(
    *,
    side: str,
    entry: Decimal,
    qty: Decimal,
    margin: Decimal,
    close_qty: Decimal,
    index_price: Decimal,
    fee_bps: Decimal,
    model: SlippageModel,
    price_tick: Decimal = PRICE_QUANT,
) -> ClosePlan:
    """Close ``close_qty`` of a position at the index moved against the taker (rounded against it
    to ``price_tick``), with the fee (``plan_close_at`` at the slipped price)."""
    bps = slippage_bps(model, close_qty * index_price)
    exit_price = fill_price(taker_side(side, opening=False), index_price, bps, price_tick)
    return plan_close_at(
        side=side, entry=entry, qty=qty, margin=margin, close_qty=close_qty, index_price=index_price,
        exit_price=exit_price, fee_bps=fee_bps,
    )  # fmt: skip


def plan_close_at(
    *,
    side: str,
    entry: Decimal,
    qty: Decimal,
    margin: Decimal,
    close_qty: Decimal,
    index_price: Decimal,
    exit_price: Decimal,
    fee_bps: Decimal,
) -> ClosePlan:
    """Close ``close_qty`` of a position at ``exit_price``.

    The released margin is proportional (all of it on a full close). The trader's payout is
    ``released + pnl - fee`` floored at zero: a loss beyond the released margin (a price that
    gapped past bankruptcy before the engine ran) is paid by ``insurance``, never by free cash.
    """
    if close_qty <= 0 or close_qty > qty:
        raise ValueError("close_qty must be in (0, qty]")
    released = margin if close_qty == qty else (margin * close_qty / qty).quantize(USD_QUANT, rounding=ROUND_DOWN)
    pnl = pnl_floor(unrealized_pnl(side, entry, close_qty, exit_price))
    fee = usd_up(close_qty * exit_price * fee_bps / BPS)
    net = released + pnl - fee
    payout = max(ZERO, net)
    return ClosePlan(
        qty=close_qty,
        index_price=index_price,
        exit_price=exit_price,
        released_margin=released,
        realized_pnl=pnl,
        fee=fee,
        payout=payout,
        insurance=min(ZERO, net),
        remaining_qty=qty - close_qty,
        remaining_margin=margin - released,
    )


def plan_liquidation(*, side: str, entry: Decimal, qty: Decimal, margin: Decimal, price: Decimal) -> LiquidationPlan:
    """Liquidation at the tick ``price``: the trader loses ``margin``; insurance gets ``margin + pnl``."""
    pnl = pnl_floor(unrealized_pnl(side, entry, qty, price))
    return LiquidationPlan(price=price, margin=margin, pnl=pnl, insurance=margin + pnl)
