"""``portfolio_update`` event: one payload builder, published after commit."""

from __future__ import annotations

from typing import Any

from core.money import dec_str
from portfolio.models import Balance, LedgerAccount, SpotHolding
from portfolio.positions import EMPTY, PositionTotals, position_totals_get
from realtime.publish import user_event_emit


def balances_payload(account: LedgerAccount) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in Balance.objects.filter(account=account).order_by("asset"):
        out[row.asset] = {"free": dec_str(row.free), "locked": dec_str(row.locked), "total": dec_str(row.total)}
    return out


def portfolio_update_data(
    account: LedgerAccount,
    *,
    balances: list[Balance] | None = None,
    holding: SpotHolding | None = None,
    positions: PositionTotals | None = None,
) -> dict[str, Any]:
    """Balances and the SOL book; with ``positions`` (after a position change) also the open
    positions' count and margin. Nothing is read from Redis: it runs inside the caller's transaction.
    Batch callers pass ``balances``/``holding``/``positions`` they already read."""
    if balances is None:
        data_balances = balances_payload(account)
    else:
        data_balances = {
            row.asset: {"free": dec_str(row.free), "locked": dec_str(row.locked), "total": dec_str(row.total)}
            for row in sorted(balances, key=lambda r: r.asset)
        }
    if holding is None:
        holding = SpotHolding.objects.filter(account=account).first()
    data: dict[str, Any] = {"epoch": account.epoch, "balances": data_balances}
    if holding is not None:
        data["sol"] = {
            "qty": dec_str(holding.qty),
            "cost_basis": dec_str(holding.cost_basis),
            "realized_pnl": dec_str(holding.realized_pnl),
            "fees_paid": dec_str(holding.fees_paid),
        }
    if positions is not None:
        data["positions"] = {"open_count": positions.open_count, "margin_used": dec_str(positions.margin)}
    return data


def position_totals_for(account: LedgerAccount) -> PositionTotals:
    """Open positions' count and margin of one account (no price needed)."""
    return position_totals_get(account_ids=[account.pk], price=None).get(account.pk, EMPTY)


def portfolio_update_publish(
    *, account: LedgerAccount, balances: list[Balance] | None = None, holding: SpotHolding | None = None
) -> None:
    """Store the event with the user's next seq (in the caller's transaction); sent after commit.
    Callers that hold the post-change ``balances``/``holding`` (the order path) pass them: no re-read."""
    if account.user_id:
        data = portfolio_update_data(account, balances=balances, holding=holding)
        user_event_emit(user_id=account.user_id, event_type="portfolio_update", data=data)
