"""Equity snapshots for portfolio history, taken by a periodic task."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.utils import timezone

from portfolio.assets import asset_marks, perp_marks_of
from portfolio.models import Asset, Balance, EquitySnapshot, LedgerAccount
from portfolio.positions import EMPTY, position_totals_get
from portfolio.valuation import equity_value
from pricing.markets import registry_get


def equity_snapshot_take_all(*, prices: dict[str, Decimal] | None = None) -> int:
    """One snapshot per user account, every token at its index (the last known one when stale);
    none while SOL's index is not fresh (the snapshot's own ``price`` column is SOL's)."""
    perp_marks: dict[str, Decimal] = {}  # with explicit prices: positions at their index
    if prices is None:
        marks = asset_marks(list(registry_get().tokens))
        sol = marks.get(Asset.SOL)
        if sol is None or sol.stale:
            return 0
        prices = {asset: mark.price for asset, mark in marks.items()}
        perp_marks = perp_marks_of(marks)
    if Asset.SOL not in prices:
        return 0
    now = timezone.now()
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in Balance.objects.filter(account__kind=LedgerAccount.Kind.USER).values("account_id", "asset", "total"):
        totals[row["account_id"]][row["asset"]] = row["total"]
    index_prices = {f"{asset}-USD": price for asset, price in prices.items()}
    perps = position_totals_get(account_ids=None, prices={**index_prices, **perp_marks})
    snapshots = []
    for account_id, epoch in LedgerAccount.objects.filter(kind=LedgerAccount.Kind.USER).values_list("pk", "epoch"):
        books = totals[account_id]
        cash = books.get(Asset.USD, Decimal(0))
        tokens = {asset: total for asset, total in books.items() if asset != Asset.USD}
        equity = equity_value(
            cash=cash, holdings=tokens, prices=prices, unrealized_pnl=perps.get(account_id, EMPTY).unrealized_pnl
        )
        snapshots.append(
            EquitySnapshot(
                account_id=account_id,
                epoch=epoch,
                taken_at=now,
                equity=equity,
                cash=cash,
                sol_qty=tokens.get(Asset.SOL, Decimal(0)),
                price=prices[Asset.SOL],
            )
        )
    EquitySnapshot.objects.bulk_create(snapshots, batch_size=1000)
    return len(snapshots)
