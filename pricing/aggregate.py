"""Aggregate one token's source observations into its index (``SOL-USD``, ``BONK-USD``). Pure
maths, Django-free; the ingest calls it once per token.

1. Per-source sanity: finite numbers in a plausible range; positive price; bid <= ask
   and a spread within limit; Pyth conf/price and EMA deviation within limits; a source
   timestamp with a UTC offset, neither stale nor in the future.
2. USDT/USDC quotes count as USD unless a known stablecoin rate is off by more than
   ``stable_depeg`` (then the quote is converted with that rate).
3. Median, drop observations more than ``outlier`` from it, median again.
4. Require ``quorum`` observations left; with fewer than ``MIN_SOURCES_TO_OUTVOTE`` left
   they must also agree within ``outlier`` (no median can outvote a wrong one); record
   dispersion and the sources used.

``aggregate`` never raises anything but ``QuorumNotMet`` (or its ``SourcesDisagree``):
an observation the checks cannot even evaluate is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from statistics import median

from pricing.sources.base import Observation

PRICE_QUANTUM = Decimal("0.00000001")  # 8 decimal places, like the sources
# Below 1 USD (JUP, BONK at 0.00002…) one more: 9 places, the finest the NUMERIC(38, 9) columns hold.
FINE_PRICE_QUANTUM = Decimal("0.000000001")
DISPERSION_QUANTUM = Decimal("0.000001")
# A token price (USD) outside this range is no price at all; keeping numbers inside it also keeps
# every ratio below finite and far from Decimal's overflow.
MIN_PRICE = Decimal("1E-8")
MAX_PRICE = Decimal("1E+12")
# Below this many kept sources the median cannot outvote one wrong source: they must agree.
MIN_SOURCES_TO_OUTVOTE = 3


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


def price_quantum(price: Decimal) -> Decimal:
    """The index's precision: 8 decimal places, 9 below 1 USD (a sub-cent token keeps 5 digits)."""
    return PRICE_QUANTUM if price >= 1 else FINE_PRICE_QUANTUM


class QuorumNotMet(Exception):
    def __init__(self, *, needed: int, usable: int, rejected: Mapping[str, str]) -> None:
        self.needed = needed
        self.usable = usable
        self.rejected = dict(rejected)
        detail = "; ".join(f"{name}: {why}" for name, why in self.rejected.items()) or "no sources"
        self.reason = f"{usable} of {needed} required sources usable ({detail})"
        super().__init__(self.reason)


class SourcesDisagree(QuorumNotMet):
    """Fewer than ``MIN_SOURCES_TO_OUTVOTE`` sources left and they disagree beyond the outlier limit:
    one of them is wrong and nothing says which, so there is no index (not their midpoint)."""

    def __init__(self, *, prices: Mapping[str, Decimal], spread: Decimal, limit: Decimal, rejected: Mapping[str, str]):
        others = dict(rejected)
        each = f"sources disagree: spread {spread:.4%} above {limit:.4%} with {len(prices)} sources"
        super().__init__(
            needed=MIN_SOURCES_TO_OUTVOTE, usable=len(prices), rejected={**others, **dict.fromkeys(prices, each)}
        )
        listed = ", ".join(f"{name} {price}" for name, price in prices.items())
        detail = "; ".join(f"{name}: {why}" for name, why in others.items())
        self.reason = (
            f"sources disagree: {listed} are {spread:.4%} apart, above the {limit:.4%} limit, "
            f"and {len(prices)} sources cannot outvote a wrong one" + (f" (others: {detail})" if detail else "")
        )
        self.args = (self.reason,)


def _number_problem(obs: Observation) -> str | None:
    """Why one of the observation's numbers cannot be used at all (not finite, out of range)."""
    for what, value in (("price", obs.price), ("bid", obs.bid), ("ask", obs.ask), ("EMA price", obs.ema_price)):
        if value is None:
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            return f"{what} is not a finite number: {value}"
        if value > 0 and not MIN_PRICE <= value <= MAX_PRICE:
            return f"{what} {value} out of range [{MIN_PRICE}, {MAX_PRICE}]"
    if obs.conf is not None and (not isinstance(obs.conf, Decimal) or not obs.conf.is_finite()):
        return f"confidence is not a finite number: {obs.conf}"
    return None


def sanity_problem(obs: Observation, *, limits: Limits, now: datetime) -> str | None:
    """Why this observation must not be used, or ``None`` when it is sane."""
    if problem := _number_problem(obs):
        return problem
    if obs.price <= 0:
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
        if obs.source_time.utcoffset() is None:
            return f"source timestamp {obs.source_time.isoformat()} has no UTC offset"
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
    if rate is None or not rate.is_finite() or rate <= 0 or abs(rate - 1) <= limits.stable_depeg:
        return obs.price
    return obs.price * rate


def _usd_price(
    obs: Observation, *, stable_rates: Mapping[str, Decimal], limits: Limits, now: datetime
) -> Decimal | str:
    """The observation's USD price, or why it is not used. Never raises: a check that cannot
    even be evaluated (a bug, an exotic value) refuses the observation with the reason."""
    try:
        if problem := sanity_problem(obs, limits=limits, now=now):
            return problem
        price = to_usd(obs, stable_rates=stable_rates, limits=limits)
        if price is None:
            return f"unknown quote currency {obs.quote}"
        if not MIN_PRICE <= price <= MAX_PRICE:
            return f"price in USD {price} out of range [{MIN_PRICE}, {MAX_PRICE}]"
        return price
    except (ArithmeticError, TypeError, ValueError, AttributeError) as exc:
        return f"unusable observation ({type(exc).__name__}: {exc})"[:200]


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
        price = _usd_price(obs, stable_rates=rates, limits=limits, now=now)
        if isinstance(price, str):
            why_not[obs.source] = price
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
    middle = median(kept.values())
    width = max(kept.values()) - min(kept.values())
    if len(kept) < MIN_SOURCES_TO_OUTVOTE and width / middle > limits.outlier:
        raise SourcesDisagree(prices=kept, spread=width / middle, limit=limits.outlier, rejected=why_not)

    quantum = price_quantum(middle)
    index = middle.quantize(quantum, rounding=ROUND_HALF_EVEN)
    dispersion = (width / index).quantize(DISPERSION_QUANTUM)
    kept_spreads = [half_spreads[name] for name in kept if name in half_spreads]
    bid = ask = None
    if kept_spreads:
        half = median(kept_spreads)
        bid = (index * (1 - half)).quantize(quantum, rounding=ROUND_FLOOR)
        ask = (index * (1 + half)).quantize(quantum, rounding=ROUND_CEILING)
    return IndexPrice(
        price=index,
        bid=bid,
        ask=ask,
        sources=tuple(kept),
        dispersion=dispersion,
        usd_prices=usd,
        rejected=why_not,
    )
