"""What trading's two model modules share: the taker side, the market symbol's length, the bps
column and the abstract stored rejection (``trading.models``: orders and fills;
``trading.position_models``: leveraged positions)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from portfolio.models import DecimalSpec

BPS_FIELD: DecimalSpec = {"max_digits": 12, "decimal_places": 4}

# Market symbols are free text checked against the registry (``pricing.markets``): ``SOL-USD``…
SYMBOL_MAX_LENGTH = 24


class Side(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class StoredRejection(models.Model):
    """A command's business rejection, final for its ``client_order_id`` (replayed as the same
    error by ``trading.idempotency.outcome_replay``); one table per kind of command."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    client_order_id = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    message = models.CharField(max_length=255)
    status = models.PositiveSmallIntegerField()
    extra = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.client_order_id}: {self.code}"
