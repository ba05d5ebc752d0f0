"""A perp market's mark at one tick of its index, from the venues' latest perp observations.

The poller (``pricing.services.venue_perps``) keeps each venue's latest answer in Redis
(``pricing:perp_venue:<venue>``, TTL ``PERP_OBSERVATION_MAX_AGE_SECONDS``)::

    {"at": "...", "marks": {"SOL-PERP": {"mark": "79.12", "index": "79.08", "funding_rate": "0.0000125",
                                          "interval_hours": 1, "received_at": "...", ...}}}

Each accepted tick (``pricing.services.ticks.price_tick_accept``) reads every venue's answer in one
round trip and makes, per perp market on the index (``perp_entry``, pure): ``mark`` = the median of
the fresh venue marks within ``PRICE_MARK_MAX_DEVIATION_PCT`` of the index (else the index), and
``funding_rate`` = the median of those venues' rates restated per ``FUNDING_INTERVAL_HOURS`` (``None``
when none). The entry lands in the index record's ``perps`` (``pricing.marks``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from pricing.marks import RATE_QUANT

VENUE_KEY = "pricing:perp_venue:{venue}"


def venue_key(venue: str) -> str:
    return VENUE_KEY.format(venue=venue)


@dataclass(frozen=True)
class VenueMark:
    """One venue's view of one perp market, in USD, its rate per ``FUNDING_INTERVAL_HOURS``."""

    source: str
    mark: Decimal
    funding_rate: Decimal | None
    age_seconds: float


def venue_answers(venues: Iterable[str]) -> dict[str, dict]:
    """Each venue's latest stored answer (one cache round trip; missing / Redis down: left out)."""
    keys = {venue_key(venue): venue for venue in venues}
    if not keys:
        return {}
    try:
        found = cache.get_many(list(keys))
    except RedisError:
        return {}
    return {keys[key]: value for key, value in found.items() if isinstance(value, dict)}


def venue_marks_for(symbol: str, answers: Mapping[str, dict], *, at: datetime, interval_hours: int) -> list[VenueMark]:
    """The venues' observations of the perp ``symbol`` in ``answers`` (malformed entries skipped)."""
    out: list[VenueMark] = []
    for venue, answer in answers.items():
        entry = (answer.get("marks") or {}).get(symbol)
        if not isinstance(entry, dict):
            continue
        try:
            received = datetime.fromisoformat(str(entry["received_at"]).replace("Z", "+00:00"))
            rate = entry.get("funding_rate")
            per_interval = (
                None
                if rate is None
                else Decimal(rate) * Decimal(interval_hours) / Decimal(int(entry.get("interval_hours") or 1))
            )
            out.append(VenueMark(venue, Decimal(entry["mark"]), per_interval, (at - received).total_seconds()))
        except (KeyError, ValueError, ArithmeticError, TypeError):
            continue
    return out


def perp_entry(
    *, index: Decimal, marks: Iterable[VenueMark], max_deviation: Decimal, max_age_seconds: float, tick: Decimal
) -> dict[str, Any]:
    """The ``perps`` entry of one perp market (pure): the median of the fresh, sane venue marks
    (positive, within ``max_deviation`` of ``index``) on the market's ``tick``, else the index;
    the median of those venues' rates, else ``None``; ``rejected`` says why a venue was left out."""
    used: list[VenueMark] = []
    rejected: dict[str, str] = {}
    for venue in sorted(marks, key=lambda m: m.source):
        if venue.age_seconds > max_age_seconds or venue.age_seconds < -5:
            rejected[venue.source] = f"stale: {venue.age_seconds:.0f} s old"
        elif not venue.mark.is_finite() or venue.mark <= 0:
            rejected[venue.source] = f"mark {venue.mark} is not a price"
        elif abs(venue.mark - index) / index > max_deviation:
            rejected[venue.source] = f"mark {venue.mark} is {abs(venue.mark - index) / index:.4%} from the index"
        else:
            used.append(venue)
    mark = index
    if used:
        median = Decimal(statistics.median(v.mark for v in used))
        places = min(tick.normalize(), Decimal(1))  # the tick's own digits (the column pads it to 9)
        mark = ((median / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick).quantize(places)
    rated = [v for v in used if v.funding_rate is not None]
    rate = Decimal(statistics.median(v.funding_rate for v in rated if v.funding_rate is not None)) if rated else None
    return {
        "mark": str(mark),
        "mark_sources": [v.source for v in used],
        "funding_rate": None if rate is None else str(rate.quantize(RATE_QUANT)),
        "funding_sources": [v.source for v in rated],
        "rejected": rejected,
    }


def perp_entries(*, perps: Mapping[str, Decimal], index: Decimal, at: datetime, live: bool) -> dict[str, dict]:
    """The ``perps`` entries of the perp markets ``perps`` (symbol -> price tick) on an index at
    ``index``: from the venues' stored answers in live mode, at the index otherwise (one cache
    round trip, none without perps or offline)."""
    answers = venue_answers(settings.PERP_VENUES) if (live and perps) else {}
    return {
        symbol: perp_entry(
            index=index,
            marks=venue_marks_for(symbol, answers, at=at, interval_hours=settings.FUNDING_INTERVAL_HOURS),
            max_deviation=settings.PRICE_MARK_MAX_DEVIATION_PCT,
            max_age_seconds=settings.PERP_OBSERVATION_MAX_AGE_SECONDS,
            tick=tick,
        )
        for symbol, tick in perps.items()
    }
