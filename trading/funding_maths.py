"""Pure maths of perp funding (no Django): the funding times and one position's payment.

* Funding times are the multiples of ``interval_hours`` since the Unix epoch, UTC (hourly: every
  full hour; 8 hours: 00:00, 08:00, 16:00).
* A position of ``qty`` at the funding time's ``mark`` and ``rate`` (per interval, + = longs pay
  shorts) is due ``sign x qty x mark x rate`` (``sign`` -1 long, +1 short), floored to the
  micro-dollar: what the trader pays rounds up, what they receive rounds down (the ledger's rule,
  in the house's favour).
* The margin takes ``max(due, -(margin - MARGIN_FLOOR))``: a position always keeps some margin;
  what it could not pay, insurance pays the house (the liquidation that follows forfeits the rest).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import NamedTuple

from core.money import USD_QUANT

MARGIN_FLOOR = Decimal("0.000001")  # the least margin a payment leaves (``CHECK margin > 0``)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def funding_time_at_or_before(now: datetime, *, interval_hours: int) -> datetime:
    """The latest funding time at or before ``now``."""
    step = timedelta(hours=max(1, interval_hours))
    return _EPOCH + ((now - _EPOCH) // step) * step


def funding_time_next(now: datetime, *, interval_hours: int) -> datetime:
    """The first funding time after ``now``."""
    return funding_time_at_or_before(now, interval_hours=interval_hours) + timedelta(hours=max(1, interval_hours))


def funding_due(*, side: str, qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What the position gets (> 0) or pays (< 0), floored to the micro-dollar."""
    sign = -1 if side == "long" else 1
    with localcontext() as ctx:
        ctx.prec = 80  # the product exact, as PostgreSQL's numeric computes it
        return (sign * qty * mark * rate).quantize(USD_QUANT, rounding=ROUND_FLOOR)


def funding_amount(*, due: Decimal, margin: Decimal) -> Decimal:
    """What the margin takes of ``due``: all of it, but never the whole margin."""
    return max(due, MARGIN_FLOOR - margin)


class Paid(NamedTuple):
    """One position's payment as the settlement returns it (the position after it)."""

    id: str
    user_id: int
    account_id: int
    side: str
    qty: Decimal
    margin: Decimal  # after the payment
    liquidation_price: Decimal  # recomputed from the new margin
    funding_accrued: Decimal
    amount: Decimal  # signed: what the margin took (< 0) or got (> 0)
    insurance: Decimal  # <= 0: the part insurance paid the house
    txn_id: int


class Settled(NamedTuple):
    """One payment as the settlement answers it: plain values, its events' data already as JSON
    text (built by the statement on PostgreSQL: no per-row work here)."""

    user_id: int
    position_id: str
    crossed: bool  # it paid and is now past its liquidation price at the mark
    payment: str  # ``funding_payment``'s data (``trading.services.funding_events.funding_payment_data``)
    portfolio: str  # ``portfolio_update``'s data (``funding_portfolio_data``)


class Settle(NamedTuple):
    """The settlement's inputs (one market, one funding time)."""

    run_id: int
    symbol: str
    funding_time: datetime
    mark: Decimal
    rate: Decimal
    tick: Decimal
    house_id: int
    insurance_id: int
    shards: int
    now: datetime
    head: str  # the JSON keys every payment of the run shares (``funding_events.funding_head``)
