"""Market-data tables: per-source health for ops, and 1-minute candles of the index."""

from django.db import models
from django.db.models import F, Q


class SourceHealth(models.Model):
    """The last thing each price source did, updated on every ingest cycle."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        REJECTED = "rejected", "rejected by sanity checks"
        ERROR = "error", "error"
        RATE_LIMITED = "rate_limited", "rate limited"
        COOLDOWN = "cooldown", "cooling down"

    name = models.CharField(max_length=32, unique=True)
    last_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_price = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    last_quote = models.CharField(max_length=8, blank=True)
    last_source_time = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    successes = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "source health"

    def __str__(self) -> str:
        return f"{self.name}: {self.last_status or 'never polled'}"


class Candle(models.Model):
    """One minute of the SOL-USD index (per price mode), built from accepted ticks."""

    symbol = models.CharField(max_length=16, default="SOL-USD")
    mode = models.CharField(max_length=16)  # live / replay / synthetic
    start = models.DateTimeField()
    open = models.DecimalField(max_digits=20, decimal_places=8)
    high = models.DecimalField(max_digits=20, decimal_places=8)
    low = models.DecimalField(max_digits=20, decimal_places=8)
    close = models.DecimalField(max_digits=20, decimal_places=8)
    ticks = models.PositiveIntegerField(default=1)
    sources = models.PositiveSmallIntegerField(default=1)  # most sources behind one tick
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "mode", "start"], name="pricing_candle_unique_minute"),
            models.CheckConstraint(
                condition=Q(low__gt=0)
                & Q(low__lte=F("open"))
                & Q(low__lte=F("close"))
                & Q(high__gte=F("open"))
                & Q(high__gte=F("close")),
                name="pricing_candle_ohlc_consistent",
            ),
            models.CheckConstraint(condition=Q(ticks__gte=1), name="pricing_candle_ticks_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.mode} {self.start:%Y-%m-%d %H:%M} C={self.close}"
