"""Pure rules of a perp position's take-profit and stop-loss (no Django; docs/positions.md).

* **Where they may sit**, against the side and the index ``P`` when set: a long's take-profit
  above ``P`` and its stop-loss below it, a short's the other way round (422
  ``take_profit_wrong_side`` / ``stop_loss_wrong_side``), each within ``TRADING_PRICE_BAND_PCT``
  of ``P`` (``price_out_of_band``); a stop-loss never at or beyond the liquidation price (a long's
  at or below ``P_liq``, a short's at or above: ``stop_beyond_liquidation``) -- there the engine
  would liquidate first and the stop would protect nothing. The tick rule (``price_off_tick``) is
  the market's, checked by ``trading.perp_markets.check_price_on_tick``.
* **When they fire**, at an accepted tick ``P``: a long's take-profit when ``P >= TP``, its
  stop-loss when ``P <= SL``; a short's take-profit when ``P <= TP``, its stop-loss when
  ``P >= SL``. Firing closes the whole position at market, which ends both (one-cancels-other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.money import dec_str
from trading.execution import RuleViolation

LONG = "long"
TAKE_PROFIT, STOP_LOSS = "take_profit", "stop_loss"
FIELDS = {TAKE_PROFIT: "take_profit_price", STOP_LOSS: "stop_loss_price"}


class TriggerGone(Exception):
    """Under the row lock the trigger no longer holds (closed, changed, cleared, not crossed at the
    tick, or the position changed after the tick): nothing is written and nothing is stored."""


@dataclass(frozen=True)
class Trigger:
    """A close the trigger engine makes: which of the position's prices fired, at the tick of
    ``computed_at`` (only a position whose size last changed at or before it qualifies)."""

    kind: str  # TAKE_PROFIT or STOP_LOSS
    computed_at: datetime


def trigger_client_order_id(kind: str, position_id: object) -> str:
    """The close's idempotency id: ``take_profit:<position id>``. ``:`` is outside the characters
    a client's id may use, so it never collides with one; a second engine run of the same trigger
    replays the first one's close."""
    return f"{kind}:{position_id}"


def fires(kind: str, *, side: str, trigger_price: Decimal | None, price: Decimal) -> bool:
    """Has the tick ``price`` reached the position's ``kind`` price (``None``: not set)?"""
    if trigger_price is None:
        return False
    upward = (kind == TAKE_PROFIT) == (side == LONG)  # a long's TP and a short's SL fire going up
    return price >= trigger_price if upward else price <= trigger_price


def check_tpsl(
    *,
    side: str,
    index_price: Decimal,
    band_pct: Decimal,
    take_profit: Decimal | None = None,
    stop_loss: Decimal | None = None,
    liquidation_price: Decimal | None = None,
) -> None:
    """The prices being set (``None``: not being set) against the side, the index and, when known,
    the liquidation price; a ``RuleViolation`` names the first rule broken."""
    long = side == LONG
    if take_profit is not None:
        if (take_profit <= index_price) if long else (take_profit >= index_price):
            where = "above" if long else "below"
            raise RuleViolation(
                "take_profit_wrong_side",
                f"A {side}'s take-profit must be {where} the index price.",
                **_prices(take_profit_price=take_profit, index_price=index_price),
            )
        _check_band("take_profit_price", take_profit, index_price, band_pct)
    if stop_loss is not None:
        if (stop_loss >= index_price) if long else (stop_loss <= index_price):
            where = "below" if long else "above"
            raise RuleViolation(
                "stop_loss_wrong_side",
                f"A {side}'s stop-loss must be {where} the index price.",
                **_prices(stop_loss_price=stop_loss, index_price=index_price),
            )
        _check_band("stop_loss_price", stop_loss, index_price, band_pct)
    if stop_loss is not None and liquidation_price is not None:
        check_stop_vs_liquidation(side=side, stop_loss=stop_loss, liquidation_price=liquidation_price)


def check_stop_vs_liquidation(*, side: str, stop_loss: Decimal, liquidation_price: Decimal) -> None:
    """A long's stop-loss above the liquidation price, a short's below it."""
    beyond = stop_loss <= liquidation_price if side == LONG else stop_loss >= liquidation_price
    if beyond:
        where = "above" if side == LONG else "below"
        raise RuleViolation(
            "stop_beyond_liquidation",
            f"A {side}'s stop-loss must be {where} its liquidation price (the position would be liquidated first).",
            **_prices(stop_loss_price=stop_loss, liquidation_price=liquidation_price),
        )


def _check_band(field: str, price: Decimal, index_price: Decimal, band_pct: Decimal) -> None:
    low, high = index_price * (1 - band_pct / 100), index_price * (1 + band_pct / 100)
    if not low <= price <= high:
        raise RuleViolation(
            "price_out_of_band",
            f"{field} must be within {dec_str(band_pct)}% of the index price.",
            field=field,
            **_prices(price=price, index_price=index_price),
            band_pct=dec_str(band_pct),
        )


def _prices(**values: Decimal) -> dict[str, str]:
    return {name: dec_str(value) for name, value in values.items()}
