"""``portfolio_update`` event: one payload builder, published after commit."""

from __future__ import annotations

from typing import Any

from portfolio.models import Balance, LedgerAccount, SpotHolding
from portfolio.money import dec_str
from realtime.publish import user_event_emit


def balances_payload(account: LedgerAccount) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in Balance.objects.filter(account=account).order_by("asset"):
        out[row.asset] = {"free": dec_str(row.free), "locked": dec_str(row.locked), "total": dec_str(row.total)}
    return out


def portfolio_update_data(account: LedgerAccount) -> dict[str, Any]:
    holding = SpotHolding.objects.filter(account=account).first()
    data: dict[str, Any] = {"epoch": account.epoch, "balances": balances_payload(account)}
    if holding is not None:
        data["sol"] = {
            "qty": dec_str(holding.qty),
            "cost_basis": dec_str(holding.cost_basis),
            "realized_pnl": dec_str(holding.realized_pnl),
            "fees_paid": dec_str(holding.fees_paid),
        }
    return data


def portfolio_update_publish(*, account: LedgerAccount) -> None:
    """Store the event with the user's next seq (in the caller's transaction); sent after commit."""
    if account.user_id:
        user_event_emit(user_id=account.user_id, event_type="portfolio_update", data=portfolio_update_data(account))
