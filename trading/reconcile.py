"""Trading's reconcile checks: every filled order has its fills and ledger rows."""

from __future__ import annotations

from django.db.models import Count, Sum

from portfolio.models import LedgerReason, LedgerTransaction
from trading.models import Fill, Order, OrderStatus


def filled_orders_have_fills() -> list[str]:
    out = []
    orders = (
        Order.objects.filter(status=OrderStatus.FILLED)
        .annotate(n=Count("fills"), qty_sum=Sum("fills__qty"))
        .values("pk", "n", "qty_sum", "filled_qty")
    )
    for row in orders.iterator():
        if row["n"] == 0:
            out.append(f"filled order {row['pk']} has no fill")
        elif row["qty_sum"] != row["filled_qty"]:
            out.append(f"order {row['pk']}: fills sum {row['qty_sum']} != filled_qty {row['filled_qty']}")
    return out[:50]


def fills_have_ledger_rows() -> list[str]:
    out = []
    fills = Fill.objects.select_related("ledger_txn").annotate(n=Count("ledger_txn__entries"))
    for fill in fills.iterator():
        txn = fill.ledger_txn
        if fill.n == 0 or txn.reason != LedgerReason.TRADE or txn.reference_id != str(fill.order_id):
            out.append(f"fill {fill.pk} has no matching trade ledger transaction")
    orphans = LedgerTransaction.objects.filter(reason=LedgerReason.TRADE, fill__isnull=True).values_list(
        "pk", flat=True
    )
    out += [f"trade ledger transaction {pk} has no fill" for pk in orphans[:50]]
    return out[:50]
