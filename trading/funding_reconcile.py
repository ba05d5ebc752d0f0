"""Funding's invariants for ``manage.py reconcile`` (registered by ``trading.reconcile``)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from portfolio.models import LedgerEntry, LedgerTransaction
from trading.models import FundingPayment, Position

_ZERO = Value(Decimal(0), output_field=DecimalField())


def funding_payments_have_ledger_rows() -> list[str]:
    """Every payment's transaction is a ``funding`` one of its position whose trader's leg is the
    payment's amount; every ``funding`` transaction has its payment; each position's
    ``funding_accrued`` is the sum of its payments."""
    out: list[str] = []
    user_leg = (
        LedgerEntry.objects.filter(txn_id=OuterRef("ledger_txn_id"), account__kind="user")
        .values("txn_id")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    payments = FundingPayment.objects.annotate(
        leg=Coalesce(Subquery(user_leg), _ZERO, output_field=DecimalField())
    ).exclude(Q(ledger_txn__reason="funding") & Q(leg=F("amount")))
    out += [
        f"funding payment {pk}: its ledger transaction differs" for pk in payments.values_list("pk", flat=True)[:50]
    ]
    rows = FundingPayment.objects.values_list("pk", "ledger_txn__reference_id", "position_id")
    for pk, ref, position_id in rows.iterator():
        if ref != str(position_id):
            out.append(f"funding payment {pk}: its transaction names {ref}, not position {position_id}")
    orphans = LedgerTransaction.objects.filter(reason="funding", funding_payment__isnull=True)
    out += [f"{pk}: funding transaction without a payment" for pk in orphans.values_list("pk", flat=True)[:50]]
    accrued = Position.objects.annotate(
        paid=Coalesce(Sum("funding_payments__amount"), _ZERO, output_field=DecimalField())
    ).exclude(funding_accrued=F("paid"))
    out += [f"position {pk}: funding_accrued != its payments" for pk in accrued.values_list("pk", flat=True)[:50]]
    return out[:50]
