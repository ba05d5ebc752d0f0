"""Aggregate source observations into one SOL-USD index. Pure maths, Django-free.

1. Per-source sanity: positive price; bid <= ask and a spread within limit; Pyth
   conf/price and EMA deviation within limits; a source timestamp neither stale nor
   in the future.
2. USDT/USDC quotes count as USD unless a known stablecoin rate is off by more than
   ``stable_depeg`` (then the quote is converted with that rate).
3. Median, drop observations more than ``outlier`` from it, median again.
4. Require ``quorum`` observations left; record dispersion and the sources used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from statistics import median

from pricing.sources.base import Observation

PRICE_QUANTUM = Decimal("0.00000001")  # 8 decimal places, like the sources
DISPERSION_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class Limits:
    quorum: int = 2
    outlier: Decimal = Decimal("0.02")  # drop observations this far (relative) from the median
    max_spread: Decimal = Decimal("0.01")  # (ask - bid) / mid
    max_conf_ratio: Decimal = Decimal("0.01")  # Pyth conf / price
    max_ema_deviation: Decimal = Decimal("0.02")  # |price - ema| / ema (Pyth)
    max_source_age_seconds: int = 60
    max_future_seconds: int = 5
    stable_depeg: Decimal = Decimal("0.005")


@dataclass(frozen=True)
class IndexPrice:
    price: Decimal
    bid: Decimal | None
    ask: Decimal | None
    sources: tuple[str, ...]
    dispersion: Decimal  # (max - min) / index over the sources used
    usd_prices: dict[str, Decimal]  # every sane observation in USD, kept or dropped
    rejected: dict[str, str] = field(default_factory=dict)  # source -> why it was not used


class QuorumNotMet(Exception):
    def __init__(self, *, needed: int, usable: int, rejected: Mapping[str, str]) -> None:
        self.needed = needed
        self.usable = usable
        self.rejected = dict(rejected)
        detail = "; ".join(f"{name}: {why}" for name, why in self.rejected.items()) or "no sources"
        self.reason = f"{usable} of {needed} required sources usable ({detail})"
        super().__init__(self.reason)


def sanity_problem(obs: Observation, *, limits: Limits, now: datetime) -> str | None:
    """Why this observation must not be used, or ``None`` when it is sane."""
    if not obs.price.is_finite() or obs.price <= 0:
        return f"non-positive price {obs.price}"
    if obs.bid is not None and obs.ask is not None:
        if obs.bid <= 0 or obs.ask <= 0:
            return "non-positive bid/ask"
        if obs.bid > obs.ask:
            return f"crossed book: bid {obs.bid} > ask {obs.ask}"
        spread = (obs.ask - obs.bid) / ((obs.ask + obs.bid) / 2)
        if spread > limits.max_spread:
            return f"spread {spread:.4%} above {limits.max_spread:.4%}"
    if obs.conf is not None:
        ratio = obs.conf / obs.price
        if obs.conf < 0 or ratio > limits.max_conf_ratio:
            return f"confidence {ratio:.4%} of price above {limits.max_conf_ratio:.4%}"
    if obs.ema_price is not None and obs.ema_price > 0:
        deviation = abs(obs.price - obs.ema_price) / obs.ema_price
        if deviation > limits.max_ema_deviation:
            return f"price {deviation:.4%} away from its EMA, above {limits.max_ema_deviation:.4%}"
    if obs.source_time is not None:
        age = (now - obs.source_time).total_seconds()
        if age > limits.max_source_age_seconds:
            return f"source timestamp {age:.0f}s old (limit {limits.max_source_age_seconds}s)"
        if -age > limits.max_future_seconds:
            return f"source timestamp {-age:.0f}s in the future"
    return None


def to_usd(obs: Observation, *, stable_rates: Mapping[str, Decimal], limits: Limits) -> Decimal | None:
    """The observation's price in USD, or ``None`` when its quote currency is unknown."""
    if obs.quote == "USD":
        return obs.price
    if obs.quote not in ("USDT", "USDC"):
        return None
    rate = stable_rates.get(obs.quote)
    if rate is None or rate <= 0 or abs(rate - 1) <= limits.stable_depeg:
        return obs.price
    return obs.price * rate


def aggregate(
    observations: Iterable[Observation],
    *,
    limits: Limits,
    now: datetime,
    stable_rates: Mapping[str, Decimal] | None = None,
    rejected: Mapping[str, str] | None = None,
) -> IndexPrice:
    """The index, or ``QuorumNotMet``. ``rejected`` carries sources that already failed to fetch."""
    rates = dict(stable_rates or {})
    why_not: dict[str, str] = dict(rejected or {})
    usd: dict[str, Decimal] = {}
    half_spreads: dict[str, Decimal] = {}
    for obs in observations:
        problem = sanity_problem(obs, limits=limits, now=now)
        price = None if problem else to_usd(obs, stable_rates=rates, limits=limits)
        if problem or price is None:
            why_not[obs.source] = problem or f"unknown quote currency {obs.quote}"
            continue
        usd[obs.source] = price
        if obs.bid is not None and obs.ask is not None:
            half_spreads[obs.source] = (obs.ask - obs.bid) / (obs.ask + obs.bid)
    if len(usd) < max(1, limits.quorum):
        raise QuorumNotMet(needed=limits.quorum, usable=len(usd), rejected=why_not)

    first = median(usd.values())
    kept = {name: p for name, p in usd.items() if abs(p - first) / first <= limits.outlier}
    for name, p in usd.items():
        if name not in kept:
            why_not[name] = f"outlier: {(p - first) / first:+.4%} from the median"
    if len(kept) < max(1, limits.quorum):
        raise QuorumNotMet(needed=limits.quorum, usable=len(kept), rejected=why_not)

    index = median(kept.values()).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    dispersion = ((max(kept.values()) - min(kept.values())) / index).quantize(DISPERSION_QUANTUM)
    kept_spreads = [half_spreads[name] for name in kept if name in half_spreads]
    bid = ask = None
    if kept_spreads:
        half = median(kept_spreads)
        bid = (index * (1 - half)).quantize(PRICE_QUANTUM, rounding=ROUND_FLOOR)
        ask = (index * (1 + half)).quantize(PRICE_QUANTUM, rounding=ROUND_CEILING)
    return IndexPrice(
        price=index,
        bid=bid,
        ask=ask,
        sources=tuple(kept),
        dispersion=dispersion,
        usd_prices=usd,
        rejected=why_not,
    )
