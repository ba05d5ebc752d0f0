"""Leveraged positions as portfolio sees them: the ``position_totals`` hook, implemented by trading.

Portfolio never imports trading. Trading owns the ``Position`` model and its maths, and
registers its implementation of ``core.hooks.position_totals`` in ``TradingConfig.ready`` (like
its reconcile checks):

    fn(*, account_ids: list[int] | None, prices: dict[str, Decimal]) -> {account_id: PositionTotals}

(``prices``: index symbol -> valuation price; a position whose index is missing counts margin only.)

The summary, the leaderboard, equity snapshots and ``portfolio_update`` ask
``position_totals_get`` for margin used and unrealized PnL per account. Without an
implementation (portfolio alone) every account has no positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core import hooks


@dataclass(frozen=True)
class PositionTotals:
    """Open positions of one account. ``unrealized_pnl``/``notional`` are ``None`` without a price.

    ``unrealized_pnl`` is floored per position at ``-margin`` (a position's loss never exceeds
    its margin: the engine liquidates it, insurance pays any gap).
    """

    open_count: int = 0
    margin: Decimal = Decimal(0)
    notional: Decimal | None = Decimal(0)
    unrealized_pnl: Decimal | None = Decimal(0)


EMPTY = PositionTotals()


def position_totals_get(*, account_ids: list[int] | None, price: Decimal | None) -> dict[int, PositionTotals]:
    """``{account_id: PositionTotals}`` for accounts with open positions (others are ``EMPTY``).

    Transitional (perps branch): ``price`` is SOL's index; the lead's per-asset valuation passes
    every index's price (``prices``) instead."""
    prices = {} if price is None else {"SOL-USD": price}
    return hooks.position_totals(account_ids=account_ids, prices=prices)
