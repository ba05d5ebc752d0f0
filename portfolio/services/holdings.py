"""The SOL book at average cost: updated by every spot fill inside the fill's transaction."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from core.money import usd
from portfolio.models import LedgerAccount, SpotHolding


def holding_apply_fill(
    *, account: LedgerAccount, side: str, qty: Decimal, notional: Decimal, fee: Decimal
) -> SpotHolding:
    """Apply a fill: a buy adds ``notional`` to the cost basis; a sell realizes
    ``notional - avg_cost * qty`` (fees are tracked apart in ``fees_paid``)."""
    holding = SpotHolding.objects.select_for_update(of=("self",)).get(account=account)
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
