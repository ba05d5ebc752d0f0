"""Roll 1-minute candles up to wider intervals. Pure, Django-free."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    ticks: int
    sources: int  # most sources behind any tick in the bucket


def bucket_start(moment: datetime, width: timedelta) -> datetime:
    return EPOCH + ((moment - EPOCH) // width) * width


def roll_up(minutes: Iterable[Bucket], width: timedelta) -> list[Bucket]:
    """Merge time-ascending 1-minute buckets into buckets of ``width`` (UTC-aligned)."""
    out: list[Bucket] = []
    for m in minutes:
        start = bucket_start(m.start, width)
        if out and out[-1].start == start:
            last = out[-1]
            out[-1] = Bucket(
                start=start,
                open=last.open,
                high=max(last.high, m.high),
                low=min(last.low, m.low),
                close=m.close,
                ticks=last.ticks + m.ticks,
                sources=max(last.sources, m.sources),
            )
        else:
            out.append(Bucket(start, m.open, m.high, m.low, m.close, m.ticks, m.sources))
    return out
