"""Equity snapshots for portfolio history, taken by a periodic task."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from portfolio.models import Asset, Balance, EquitySnapshot, LedgerAccount
from portfolio.positions import EMPTY, position_totals_get
from portfolio.valuation import equity_value
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest


def equity_snapshot_take_all(*, price: Decimal | None = None) -> int:
    """One snapshot per user account at the current index; none without a fresh price."""
    if price is None:
        try:
            price = price_get_latest().price
        except (PriceUnavailable, PriceStale):
            return 0
    now = timezone.now()
    totals: dict[tuple[int, str], Decimal] = {}
    for row in Balance.objects.filter(account__kind=LedgerAccount.Kind.USER).values("account_id", "asset", "total"):
        totals[(row["account_id"], row["asset"])] = row["total"]
    perps = position_totals_get(account_ids=None, price=price)
    snapshots = []
    for account_id, epoch in LedgerAccount.objects.filter(kind=LedgerAccount.Kind.USER).values_list("pk", "epoch"):
        cash = totals.get((account_id, Asset.USD), Decimal(0))
        sol = totals.get((account_id, Asset.SOL), Decimal(0))
        snapshots.append(
            EquitySnapshot(
                account_id=account_id,
                epoch=epoch,
                taken_at=now,
                equity=equity_value(
                    cash=cash, sol_qty=sol, price=price, unrealized_pnl=perps.get(account_id, EMPTY).unrealized_pnl
                ),
                cash=cash,
                sol_qty=sol,
                price=price,
            )
        )
    EquitySnapshot.objects.bulk_create(snapshots, batch_size=1000)
    return len(snapshots)
