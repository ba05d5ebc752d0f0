"""Perp funding (docs/positions.md, "Funding"): one ``FundingRun`` per market and funding time,
one ``FundingPayment`` per position and funding time, each with its ledger transaction."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from portfolio.models import MONEY, LedgerTransaction
from trading.position_models import PERP_SYMBOL_FIELD, Position, PositionSide

# A funding rate per interval (``pricing.marks.RATE_QUANT``: 9 places).
FUNDING_RATE_FIELD: dict = {"max_digits": 20, "decimal_places": 9}


class FundingBasis(models.TextChoices):
    VENUES = "venues", "the venues' median rate"
    PREMIUM = "premium", "premium-index formula (mark vs index)"


class FundingRunStatus(models.TextChoices):
    """``settled``: its payments are posted (in the run's own transaction); ``skipped``: a funding
    time missed while a later one was already due, recorded and never charged (docs/positions.md)."""

    SETTLED = "settled", "settled"
    SKIPPED = "skipped", "skipped (a later funding time was settled)"


class FundingRun(models.Model):
    """One market's settlement at one funding time. UNIQUE (symbol, funding_time): the claim that
    makes a rerun, a second worker or a late beat settle nothing twice."""

    symbol = models.CharField(max_length=PERP_SYMBOL_FIELD["max_length"])
    funding_time = models.DateTimeField()
    status = models.CharField(max_length=10, choices=FundingRunStatus.choices)
    rate = models.DecimalField(**FUNDING_RATE_FIELD, null=True, blank=True)  # per interval; + = longs pay
    basis = models.CharField(max_length=10, choices=FundingBasis.choices, blank=True, default="")
    capped = models.BooleanField(default=False)
    mark = models.DecimalField(**MONEY, null=True, blank=True)
    index_price = models.DecimalField(**MONEY, null=True, blank=True)
    positions = models.PositiveIntegerField(default=0)  # payments posted
    paid_total = models.DecimalField(**MONEY, default=0)  # by traders (>= 0)
    received_total = models.DecimalField(**MONEY, default=0)  # by traders (>= 0)
    late = models.BooleanField(default=False)  # settled after funding_time + FUNDING_LATE_GRACE_SECONDS
    started_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "funding_time"], name="funding_run_one_per_market_time"),
        ]
        indexes = [models.Index(fields=["symbol", "-funding_time"], name="funding_run_symbol_time")]

    def __str__(self) -> str:
        return f"{self.symbol} @ {self.funding_time:%Y-%m-%d %H:%M} ({self.status})"


class FundingPayment(models.Model):
    """What one position paid (``amount`` < 0) or received (> 0) at one funding time: ``qty x mark
    x rate``, out of (into) its margin. UNIQUE (position, funding_time): never charged twice."""

    run = models.ForeignKey(FundingRun, on_delete=models.PROTECT, related_name="payments", db_index=False)
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="funding_payments", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    symbol = models.CharField(max_length=PERP_SYMBOL_FIELD["max_length"])
    funding_time = models.DateTimeField()
    side = models.CharField(max_length=5, choices=PositionSide.choices)
    qty = models.DecimalField(**MONEY)
    mark = models.DecimalField(**MONEY)
    rate = models.DecimalField(**FUNDING_RATE_FIELD)
    amount = models.DecimalField(**MONEY)  # signed, what the trader's margin took: negative = paid
    # The part of a payment the margin could not cover, paid to the house by insurance (<= 0).
    insurance = models.DecimalField(**MONEY, default=0)
    margin_after = models.DecimalField(**MONEY)
    ledger_txn = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="funding_payment")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["position", "funding_time"], name="funding_payment_once_per_time"),
            models.CheckConstraint(name="funding_payment_insurance_non_positive", condition=Q(insurance__lte=0)),
        ]
        indexes = [
            models.Index(fields=["user", "-funding_time"], name="funding_payment_user_time"),
            models.Index(fields=["run"], name="funding_payment_run"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.side} {self.amount} @ {self.funding_time:%Y-%m-%d %H:%M}"
