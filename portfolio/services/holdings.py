"""A spot asset's book at average cost: updated by every spot fill inside the fill's transaction."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from core.money import usd
from portfolio.models import LedgerAccount, SpotHolding


def holding_get_or_create(*, account: LedgerAccount, asset: str, lock: bool = False) -> SpotHolding:
    """``account``'s book of ``asset``, created empty on the first use (SOL's exists from the
    account's opening; the others appear with their first fill or adjustment)."""
    rows = SpotHolding.objects.filter(account=account, asset=asset)
    holding = (rows.select_for_update(of=("self",)) if lock else rows).first()
    if holding is None:
        SpotHolding.objects.bulk_create([SpotHolding(account=account, asset=asset)], ignore_conflicts=True)
        holding = (rows.select_for_update(of=("self",)) if lock else rows).get()
    return holding


def holding_apply_fill(
    *, account: LedgerAccount, asset: str, side: str, qty: Decimal, notional: Decimal, fee: Decimal
) -> SpotHolding:
    """Apply a fill: a buy adds ``notional`` to the cost basis; a sell realizes
    ``notional - avg_cost * qty`` (fees are tracked apart in ``fees_paid``)."""
    holding = holding_get_or_create(account=account, asset=asset, lock=True)
    if side == "buy":
        holding.qty += qty
        holding.cost_basis += notional
    else:
        if qty >= holding.qty:
            removed = holding.cost_basis
        else:
            removed = usd(holding.cost_basis * qty / holding.qty)
        holding.realized_pnl += notional - removed
        holding.cost_basis -= removed
        holding.qty -= qty
    holding.fees_paid += fee
    holding.volume += notional
    holding.trade_count += 1
    holding.updated_at = timezone.now()
    holding.save(
        update_fields=["qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count", "updated_at"]
    )
    return holding
