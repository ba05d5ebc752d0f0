"""Offline price generators for ``PRICE_MODE=replay`` and ``synthetic``. Django-free.

* Replay plays an hourly OHLC CSV (``time,open,high,low,close``, unix seconds) at
  ``speed`` x real time. Inside a bar the price follows open -> extreme -> extreme ->
  close (low first on an up bar, high first on a down bar), each leg a third of the bar,
  linearly interpolated; the tape wraps around at its end.
* Synthetic is a seeded random walk: step ``n`` multiplies the price by
  ``1 + volatility * u`` where ``u`` is uniform in [-1, 1] drawn from ``Random(f"{seed}:{n}")``,
  so a seed always yields the same path. Integer draws only, no binary floats.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path

from pricing.aggregate import MIN_PRICE, price_quantum

QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True)
class Bar:
    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


class TapeError(ValueError):
    pass


def load_ohlc_csv(path: str | Path) -> list[Bar]:
    """Read and validate an OHLC CSV; rows must be time-ascending with low <= open/close <= high."""
    bars: list[Bar] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"time", "open", "high", "low", "close"} - set(reader.fieldnames or ())
        if missing:
            raise TapeError(f"{path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                bar = Bar(
                    time=int(row["time"]),
                    open=Decimal(row["open"]),
                    high=Decimal(row["high"]),
                    low=Decimal(row["low"]),
                    close=Decimal(row["close"]),
                )
            except (ValueError, ArithmeticError) as exc:
                raise TapeError(f"{path}:{line}: {exc}") from exc
            if not (0 < bar.low <= min(bar.open, bar.close) and max(bar.open, bar.close) <= bar.high):
                raise TapeError(f"{path}:{line}: inconsistent OHLC {row}")
            if bars and bar.time <= bars[-1].time:
                raise TapeError(f"{path}:{line}: time not ascending")
            bars.append(bar)
    if len(bars) < 2:
        raise TapeError(f"{path}: needs at least two bars")
    return bars


class Tape:
    """An OHLC tape that answers the price at any (fractional) unix time within it."""

    def __init__(self, bars: list[Bar]) -> None:
        self.bars = bars
        self.times = [bar.time for bar in bars]
        self.step = bars[1].time - bars[0].time
        self.start = bars[0].time
        self.end = bars[-1].time + self.step  # exclusive

    def price_at(self, t: Decimal) -> Decimal:
        span = self.end - self.start
        offset = (t - self.start) % span  # Decimal's % keeps the dividend's sign
        t = self.start + (offset + span if offset < 0 else offset)
        i = max(0, bisect_right(self.times, int(t)) - 1)
        bar = self.bars[i]
        length = (self.bars[i + 1].time if i + 1 < len(self.bars) else bar.time + self.step) - bar.time
        f = min(Decimal(1), max(Decimal(0), (t - bar.time) / length))
        first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        path = [bar.open, first, second, bar.close]
        leg = min(2, int(f * 3))
        within = f * 3 - leg
        price = path[leg] + (path[leg + 1] - path[leg]) * within
        return price.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)

    def replay_time(self, *, elapsed_microseconds: int, speed: Decimal, start: int | None = None) -> Decimal:
        """Tape time after ``elapsed`` wall-clock microseconds at ``speed``."""
        origin = self.start if start is None else start
        return Decimal(origin) + Decimal(elapsed_microseconds) * speed / Decimal(1_000_000)


def synthetic_next(*, price: Decimal, step: int, seed: str, volatility: Decimal) -> Decimal:
    """The walk's price after ``step`` (deterministic for a given seed and step)."""
    draw = random.Random(f"{seed}:{step}").randint(-1_000_000, 1_000_000)
    moved = price * (1 + volatility * Decimal(draw) / Decimal(1_000_000))
    return max(MIN_PRICE, moved.quantize(price_quantum(moved), rounding=ROUND_HALF_EVEN))


def spread_around(price: Decimal, spread_bps: Decimal) -> tuple[Decimal, Decimal]:
    """Bid and ask about ``spread_bps`` apart around ``price`` (bid rounded down, ask up, to the
    index's precision)."""
    half = price * spread_bps / Decimal(20_000)
    quantum = price_quantum(price)
    bid = (price - half).quantize(quantum, rounding=ROUND_FLOOR)
    return bid, (price + half).quantize(quantum, rounding=ROUND_CEILING)
