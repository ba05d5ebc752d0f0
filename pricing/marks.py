"""A perp market's mark price and the venues' funding rate, as trading and funding read them.

Each accepted tick of an index carries, for every listed perp market on that index, a ``perps``
entry in the index's latest record (``price:latest:SOL-USD``)::

    "perps": {"SOL-PERP": {"mark": "79.10", "mark_sources": ["backpack", "binance"],
                           "funding_rate": "0.0000125", "funding_sources": ["backpack", "binance"]}}

``mark``: the median of the venues' published perp mark prices (else the index, ``mark_sources``
empty); ``funding_rate``: the median of the venues' current funding rates, per
``FUNDING_INTERVAL_HOURS`` (``None`` when no venue publishes one). A record without the entry
(before mark prices, an offline mode) marks the perp at its index with no venue rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pricing.markets import market_get
from pricing.selectors import PriceQuote, price_fresh_record, quote_from_record


@dataclass(frozen=True)
class PerpMark:
    """One perp market's prices at one tick of its index."""

    symbol: str  # the perp market: SOL-PERP
    index_symbol: str  # its index: SOL-USD
    index: Decimal
    mark: Decimal
    mark_sources: tuple[str, ...]  # the venues whose marks made ``mark``; () = the index
    funding_rate: Decimal | None  # the venues' median rate per funding interval; None = none published
    funding_sources: tuple[str, ...]
    computed_at: datetime
    mode: str = "live"


def perp_mark_from_record(record: dict, symbol: str) -> PerpMark:
    """``symbol``'s mark in an index record (``price_latest_record``); at the index when the
    record has no entry for it."""
    quote: PriceQuote = quote_from_record(record)
    entry = (record.get("perps") or {}).get(symbol) or {}
    rate = entry.get("funding_rate")
    return PerpMark(
        symbol=symbol,
        index_symbol=quote.symbol,
        index=quote.price,
        mark=Decimal(entry["mark"]) if entry.get("mark") else quote.price,
        mark_sources=tuple(entry.get("mark_sources") or ()),
        funding_rate=Decimal(rate) if rate is not None else None,
        funding_sources=tuple(entry.get("funding_sources") or ()),
        computed_at=quote.computed_at,
        mode=quote.mode,
    )


def perp_mark_get(symbol: str, *, now: datetime | None = None) -> PerpMark:
    """The fresh mark of the perp market ``symbol`` (``SOL-PERP``), or ``PriceUnavailable`` /
    ``PriceStale`` as for its index (``price_fresh_record``)."""
    return perp_mark_from_record(price_fresh_record(symbol=market_get(symbol).index_symbol, now=now), symbol)


# Binance's premium-index formula, per 8 hours: rate = P + clamp(I - P, -0.05 %, +0.05 %), with the
# interest rate I = 0.01 % per 8 hours; scaled here to FUNDING_INTERVAL_HOURS.
INTEREST_PER_8H = Decimal("0.0001")
PREMIUM_CLAMP_PER_8H = Decimal("0.0005")
RATE_QUANT = Decimal("0.000000001")
FUNDING_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FundingRate:
    """The rate one funding time charges: per funding interval, longs pay shorts when positive."""

    rate: Decimal
    basis: str  # "venues": the median of the venues' rates; "premium": from mark and index
    capped: bool  # clamped to +/- FUNDING_RATE_CAP


def funding_rate_for(mark: PerpMark, *, interval_hours: int, cap: Decimal) -> FundingRate:
    """The funding rate of ``mark``'s market now: the venues' median rate, else the premium-index
    formula from mark and index (scaled from 8 hours to ``interval_hours``); clamped to ``cap``."""
    if mark.funding_rate is not None:
        raw, basis = mark.funding_rate, "venues"
    else:
        scale = Decimal(interval_hours) / 8
        premium = (mark.mark - mark.index) / mark.index
        interest, limit = INTEREST_PER_8H * scale, PREMIUM_CLAMP_PER_8H * scale
        raw, basis = premium * scale + min(max(interest - premium * scale, -limit), limit), "premium"
    rate = min(max(raw, -cap), cap).quantize(RATE_QUANT)
    return FundingRate(rate=rate, basis=basis, capped=abs(raw) > cap)


def next_funding_at(now: datetime, *, interval_hours: int) -> datetime:
    """The next funding time after ``now``: the next multiple of ``interval_hours`` since the Unix
    epoch, UTC (1 h: the next whole hour; 8 h: 00:00, 08:00, 16:00) -- the grid funding settles on
    (``trading.funding_maths``)."""
    step = timedelta(hours=max(1, interval_hours))
    return FUNDING_EPOCH + ((now - FUNDING_EPOCH) // step + 1) * step
