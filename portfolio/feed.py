"""What realtime's price-driven ``portfolio_update`` carries (the ``portfolio_snapshot`` hook of
``core.hooks``): the portfolio summary at the current index (balances, SOL book, positions,
equity). Read-only."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from portfolio.errors import AccountNotOpen
from portfolio.selectors import portfolio_summary_get


def portfolio_ws_snapshot(*, user_id: int) -> dict[str, Any] | None:
    """The summary, or ``None`` (nothing to push) for a user without books (an ops account)."""
    try:
        return portfolio_summary_get(user=User.objects.get(pk=user_id))
    except AccountNotOpen:
        return None
