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


def check_band(*, limit_price: Decimal, index_price: Decimal, band_pct: Decimal) -> None:
    """A limit price more than ``band_pct`` percent away from the index is refused (a fat finger)."""
    low, high = index_price * (1 - band_pct / 100), index_price * (1 + band_pct / 100)
    if not low <= limit_price <= high:
        raise RuleViolation(
            "price_out_of_band",
            f"The limit price must be within {dec_str(band_pct)}% of the index price.",
            limit_price=dec_str(limit_price),
            index_price=dec_str(index_price),
            band_pct=dec_str(band_pct),
        )
