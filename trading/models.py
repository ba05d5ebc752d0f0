"""Orders and their fills. An order's money lives in the portfolio ledger (``Fill.ledger_txn``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portfolio.models import MONEY, LedgerTransaction

BPS_FIELD = {"max_digits": 12, "decimal_places": 4}


class Symbol(models.TextChoices):
    SOL_USD = "SOL-USD", "SOL-USD"


class Side(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class OrderType(models.TextChoices):
    MARKET = "market", "market"


class OrderStatus(models.TextChoices):
    NEW = "new", "new"
    PARTIALLY_FILLED = "partially_filled", "partially filled"
    FILLED = "filled", "filled"
    CANCELED = "canceled", "canceled"


# Every allowed status change; ``trading.services.orders.order_transition`` enforces it.
ORDER_TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.NEW: {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED},
    OrderStatus.PARTIALLY_FILLED: {OrderStatus.FILLED, OrderStatus.CANCELED},
    OrderStatus.FILLED: set(),
    OrderStatus.CANCELED: set(),
}


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=16, choices=Symbol.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=OrderType.choices)
    qty = models.DecimalField(**MONEY, null=True, blank=True)
    notional = models.DecimalField(**MONEY, null=True, blank=True)
    filled_qty = models.DecimalField(**MONEY, default=0)
    filled_avg_price = models.DecimalField(**MONEY, null=True, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW)
    fee = models.DecimalField(**MONEY, default=0)
    slippage_bps = models.DecimalField(**BPS_FIELD, default=0)
    index_price = models.DecimalField(**MONEY, null=True, blank=True)
    price_source = models.CharField(max_length=128, blank=True, default="")
    epoch = models.PositiveIntegerField(default=1)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    filled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="order_unique_user_client_order_id"),
            models.CheckConstraint(name="order_qty_positive", condition=Q(qty__isnull=True) | Q(qty__gt=0)),
            models.CheckConstraint(
                name="order_notional_positive", condition=Q(notional__isnull=True) | Q(notional__gt=0)
            ),
            models.CheckConstraint(
                name="order_qty_xor_notional",
                condition=Q(qty__isnull=True, notional__isnull=False) | Q(qty__isnull=False, notional__isnull=True),
            ),
            models.CheckConstraint(name="order_filled_qty_non_negative", condition=Q(filled_qty__gte=0)),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="order_user_created")]

    def __str__(self) -> str:
        return f"{self.side} {self.qty or self.notional} {self.symbol} ({self.status})"


class Fill(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=16, choices=Symbol.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    qty = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    notional = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    liquidity = models.CharField(max_length=5, default="taker")
    ledger_txn = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="fill")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(name="fill_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(name="fill_price_positive", condition=Q(price__gt=0)),
            models.CheckConstraint(name="fill_fee_non_negative", condition=Q(fee__gte=0)),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="fill_user_created")]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} @ {self.price}"


class OrderRejection(models.Model):
    """A business rejection, final for its ``client_order_id`` (replayed as the same error)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client_order_id = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    message = models.CharField(max_length=255)
    status = models.PositiveSmallIntegerField()
    extra = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="rejection_unique_user_client_order_id")
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id}: {self.code}"
