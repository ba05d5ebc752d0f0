"""Ops admin for funding (imported by ``trading.admin``): the runs per market and funding time and
the payments, read-only (money moves only through ``trading.services.funding``)."""

from __future__ import annotations

from django.contrib import admin

from portfolio.admin import ReadOnlyAdmin
from trading.models import FundingPayment, FundingRun


@admin.register(FundingRun)
class FundingRunAdmin(ReadOnlyAdmin):
    """One row per market and funding time: the rate charged (its basis, capped or not), the mark
    and index, the payments' count and totals, late or not; ``skipped`` for a missed time."""

    list_display = (
        "symbol", "funding_time", "status", "rate", "basis", "capped", "mark", "index_price", "positions",
        "paid_total", "received_total", "late", "started_at", "settled_at",
    )  # fmt: skip
    list_filter = ("status", "late", "capped", "basis", "symbol")
    date_hierarchy = "funding_time"
    ordering = ("-funding_time", "symbol")


@admin.register(FundingPayment)
class FundingPaymentAdmin(ReadOnlyAdmin):
    """Each position's payment (negative = paid), its ledger transaction and the margin after it."""

    list_display = (
        "funding_time", "symbol", "user", "position", "side", "qty", "mark", "rate", "amount", "insurance",
        "margin_after", "ledger_txn",
    )  # fmt: skip
    list_filter = ("symbol", "side")
    search_fields = ("position__id", "user__address")
    list_select_related = ("user", "ledger_txn")
    raw_id_fields = ("position", "user", "ledger_txn", "run")
    ordering = ("-funding_time", "-id")
