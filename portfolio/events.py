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


def _book_payload(holding: SpotHolding) -> dict[str, str]:
    return {
        "qty": dec_str(holding.qty),
        "cost_basis": dec_str(holding.cost_basis),
        "realized_pnl": dec_str(holding.realized_pnl),
        "fees_paid": dec_str(holding.fees_paid),
    }


def portfolio_update_data(
    account: LedgerAccount,
    *,
    balances: list[Balance] | None = None,
    holdings: list[SpotHolding] | None = None,
    positions: PositionTotals | None = None,
) -> dict[str, Any]:
    """Balances and the spot books (``holdings`` by asset; ``sol`` too, as before markets); with
    ``positions`` (after a position change) also the open positions' count and margin. Nothing is
    read from Redis: it runs inside the caller's transaction. Batch callers and a fill pass the
    ``balances``/``holdings`` (a fill: the one book it changed)/``positions`` they already hold."""
    if balances is None:
        data_balances = balances_payload(account)
    else:
        data_balances = {
            row.asset: {"free": dec_str(row.free), "locked": dec_str(row.locked), "total": dec_str(row.total)}
            for row in sorted(balances, key=lambda r: r.asset)
        }
    if holdings is None:
        holdings = list(SpotHolding.objects.filter(account=account).order_by("asset"))
    data: dict[str, Any] = {"epoch": account.epoch, "balances": data_balances}
    books = {holding.asset: _book_payload(holding) for holding in holdings}
    if "SOL" in books:
        data["sol"] = books["SOL"]
    data["holdings"] = books
    if positions is not None:
        data["positions"] = {"open_count": positions.open_count, "margin_used": dec_str(positions.margin)}
    return data


def position_totals_for(account: LedgerAccount) -> PositionTotals:
    """Open positions' count and margin of one account (no price needed)."""
    return position_totals_get(account_ids=[account.pk], prices={}).get(account.pk, EMPTY)


def portfolio_update_publish(
    *, account: LedgerAccount, balances: list[Balance] | None = None, holdings: list[SpotHolding] | None = None
) -> None:
    """Store the event with the user's next seq (in the caller's transaction); sent after commit.
    Callers that hold the post-change ``balances``/``holdings`` (the order path) pass them: no re-read."""
    if account.user_id:
        data = portfolio_update_data(account, balances=balances, holdings=holdings)
        user_event_emit(user_id=account.user_id, event_type="portfolio_update", data=data)
