"""Leaderboard maths, Django-free: a period's result chain-linked across resets.

A reset ends an epoch at its equity and starts the next at the starting balances: for the
ranking it is a capital injection. The result of a period is measured like a fund's
time-weighted return, which no deposit can change: each epoch inside the period is a segment
``(start, end)`` and

    growth = product(end / start)            return = growth - 1
    pnl    = base * (growth - 1)             equity (period "all") = base * growth

where ``base`` is the equity the period began from. That is exactly the result of the same
trades (as fractions of equity) by an account that never reset: at the moment of a reset
nothing changes (the ended segment's ``end / start`` equals the live ratio it replaces, the
new segment starts at 1), and afterwards every gain counts on what was left, not on the fresh
grant. A plain sum of the epochs' dollar results would hand the stake back: lose half all-in,
reset, win double all-in, and the sum shows +50 % where the account that kept going is flat.

An account that was left with nothing cannot trade back, so a segment starting at zero ends
the chain: what follows it (on a fresh grant) is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.money import usd

RETURN_QUANT = Decimal("0.000001")
ONE = Decimal(1)


@dataclass(frozen=True)
class Segment:
    """One epoch's part inside a period: equity when it (or the period) began, and at its end
    (the final equity of an ended epoch, the current equity of the live one)."""

    start: Decimal
    end: Decimal


@dataclass(frozen=True)
class PeriodResult:
    base: Decimal
    growth: Decimal

    @property
    def pnl(self) -> Decimal:
        return usd(self.base * self.growth - self.base)

    @property
    def equity(self) -> Decimal:
        return usd(self.base * self.growth)

    @property
    def ret(self) -> Decimal:
        return (self.growth - ONE).quantize(RETURN_QUANT)


def chain(segments: Sequence[Segment]) -> PeriodResult:
    """The period's ``base`` (the first segment's start) and chain-linked ``growth``."""
    if not segments:
        return PeriodResult(base=Decimal(0), growth=ONE)
    growth = ONE
    for segment in segments:
        if segment.start <= 0:
            break
        growth *= segment.end / segment.start
    return PeriodResult(base=segments[0].start, growth=growth)
