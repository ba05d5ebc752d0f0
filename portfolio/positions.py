"""Leveraged positions as portfolio sees them: a provider registered by trading.

Portfolio never imports trading. Trading owns the ``Position`` model and its maths, and
registers one function here from ``TradingConfig.ready`` (like the reconcile checks):

    register_position_provider(fn)   # fn(*, account_ids: list[int] | None, price: Decimal | None)
                                     #    -> {account_id: PositionTotals}

The summary, the leaderboard, equity snapshots and ``portfolio_update`` ask
``position_totals_get`` for margin used and unrealized PnL per account. Without a provider
(portfolio alone) every account has no positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal


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


Provider = Callable[..., dict[int, PositionTotals]]
_provider: Provider | None = None
EMPTY = PositionTotals()


def register_position_provider(provider: Provider) -> None:
    global _provider
    _provider = provider


def position_totals_get(*, account_ids: list[int] | None, price: Decimal | None) -> dict[int, PositionTotals]:
    """``{account_id: PositionTotals}`` for accounts with open positions (others are ``EMPTY``)."""
    if _provider is None:
        return {}
    return _provider(account_ids=account_ids, price=price)
