"""What a price-driven ``portfolio_update`` carries: the portfolio summary at the
current index (balances, SOL book, positions, equity). Read-only."""

from __future__ import annotations

from typing import Any


def portfolio_ws_snapshot(*, user_id: int) -> dict[str, Any]:
    from accounts.models import User
    from portfolio.selectors import portfolio_summary_get

    return portfolio_summary_get(user=User.objects.get(pk=user_id))
