"""Pure maths of limit orders (no Django): what a resting order holds, whether it is marketable,
and the maker fill it gets when the market comes to it.

* **Hold.** A resting buy holds its worst-case cost ``qty × limit × (1 + taker fee)`` in USD,
  rounded up to the micro-dollar (a fill never costs more: a maker fill pays the lower maker fee,
  a taker fill on arrival never pays more than the limit); a resting sell holds its quantity of
  the base asset.
* **Marketable on arrival.** A buy whose limit is at or above the market price it would take (the
  index's ask when the record has one, else the index), a sell whose limit is at or below the bid
  (else the index). It fills at once as the taker at the slipped market price, but never worse
  than its limit; when the slipped price is worse, it rests (gtc/gtd) or is canceled (ioc/fok).
* **Maker fill.** A resting order fills at its own limit price, without slippage, with the maker
  fee, on the first accepted tick that crosses it (``is_crossed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import BPS, dec_str, usd_down, usd_up
from trading.execution import Execution, RuleViolation


@dataclass(frozen=True)
class Hold:
    asset: str
    amount: Decimal


def hold_for(*, side: str, qty: Decimal, limit_price: Decimal, base: str, taker_fee_bps: Decimal) -> Hold:
    if side == "buy":
        return Hold("USD", usd_up(qty * limit_price * (1 + taker_fee_bps / BPS)))
    return Hold(base, qty)


def stop_hold(
    *,
    side: str,
    qty: Decimal,
    stop_price: Decimal,
    limit_price: Decimal | None,
    base: str,
    taker_fee_bps: Decimal,
    max_slippage_bps: Decimal,
) -> Hold:
    """A stop's worst case: a buy stop-limit never pays more than its limit (like a limit); a buy
    stop pays the market at the stop, slipped at most ``max_slippage_bps``; a sell gives its qty."""
    if side != "buy":
        return Hold(base, qty)
    if limit_price is not None:
        return hold_for(side=side, qty=qty, limit_price=limit_price, base=base, taker_fee_bps=taker_fee_bps)
    return Hold("USD", usd_up(qty * stop_price * (1 + max_slippage_bps / BPS) * (1 + taker_fee_bps / BPS)))


def stop_crossed(side: str, *, stop_price: Decimal, index: Decimal) -> bool:
    """A buy stop triggers when the index is at or above its stop, a sell stop at or below."""
    return index >= stop_price if side == "buy" else index <= stop_price


def check_stop_side(side: str, *, stop_price: Decimal, index_price: Decimal) -> None:
    """On arrival a stop waits on the far side of the index (a buy above, a sell below): one the
    index already crossed would trigger at once (422 ``stop_wrong_side``)."""
    if stop_crossed(side, stop_price=stop_price, index=index_price):
        where = "above" if side == "buy" else "below"
        raise RuleViolation(
            "stop_wrong_side",
            f"A {side} stop must be {where} the index price (it would trigger at once).",
            stop_price=dec_str(stop_price),
            index_price=dec_str(index_price),
        )


def touch_price(side: str, *, index: Decimal, bid: Decimal | None, ask: Decimal | None) -> Decimal:
    """The price a ``side`` order meets in the market: a buy the ask, a sell the bid (the index
    when the record has no bid/ask)."""
    if side == "buy":
        return ask if ask is not None else index
    return bid if bid is not None else index


def is_crossed(side: str, *, limit_price: Decimal, touch: Decimal) -> bool:
    """A buy limit at or above the price it meets; a sell limit at or below it."""
    return touch <= limit_price if side == "buy" else touch >= limit_price


def within_limit(side: str, *, price: Decimal, limit_price: Decimal) -> bool:
    """A fill price no worse than the limit."""
    return price <= limit_price if side == "buy" else price >= limit_price


def plan_maker_fill(
    *, side: str, qty: Decimal, limit_price: Decimal, index_price: Decimal, fee_bps: Decimal
) -> Execution:
    """A resting limit's fill at its own price: notional rounded against the trader (buy up, sell
    down), the maker fee rounded up, no slippage."""
    raw = qty * limit_price
    notional = usd_up(raw) if side == "buy" else usd_down(raw)
    return Execution(
        side=side, qty=qty, price=limit_price, index_price=index_price, notional=notional,
        fee=usd_up(notional * fee_bps / BPS), slippage_bps=Decimal(0),
    )  # fmt: skip


def check_band(*, price: Decimal, index_price: Decimal, band_pct: Decimal, field: str = "limit_price") -> None:
    """A limit or stop price (``field``) more than ``band_pct`` percent away from the index is
    refused (a fat finger)."""
    low, high = index_price * (1 - band_pct / 100), index_price * (1 + band_pct / 100)
    if not low <= price <= high:
        raise RuleViolation(
            "price_out_of_band",
            f"The {field.replace('_', ' ')} must be within {dec_str(band_pct)}% of the index price.",
            field=field,
            **{field: dec_str(price)},
            index_price=dec_str(index_price),
            band_pct=dec_str(band_pct),
        )
