"""Writes of 1-minute candles: one upsert per accepted tick, and retention pruning."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least

from pricing.candle_math import INTERVALS, bucket_start
from pricing.models import Candle

_PRICE = models.DecimalField(max_digits=38, decimal_places=9)


def candle_record_tick(*, price: Decimal, sources: int, at: datetime, mode: str, symbol: str = "SOL-USD") -> None:
    """Fold one accepted index tick into its minute's candle (atomic upsert, race-safe)."""
    start = bucket_start(at, INTERVALS["1m"])
    value = Value(price, output_field=_PRICE)
    lookup = Candle.objects.filter(symbol=symbol, mode=mode, start=start)

    def fold() -> int:
        return lookup.update(
            high=Greatest(F("high"), value),
            low=Least(F("low"), value),
            close=value,
            ticks=F("ticks") + 1,
            sources=Greatest(F("sources"), Value(sources)),
            updated_at=at,
        )

    if fold():
        return
    try:
        with transaction.atomic():
            Candle.objects.create(
                symbol=symbol,
                mode=mode,
                start=start,
                open=price,
                high=price,
                low=price,
                close=price,
                ticks=1,
                sources=sources,
                updated_at=at,
            )
    except IntegrityError:
        fold()  # another writer created the minute first


def candle_prune(*, now: datetime) -> int:
    """Delete 1-minute candles older than ``PRICE_CANDLE_RETENTION_DAYS``; returns the count."""
    cutoff = now - timedelta(days=settings.PRICE_CANDLE_RETENTION_DAYS)
    deleted, _ = Candle.objects.filter(start__lt=cutoff).delete()
    return deleted
