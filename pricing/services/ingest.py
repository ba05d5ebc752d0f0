"""One ingest cycle: poll the sources (or the offline generator), aggregate, accept the tick.

``price_ingest_cycle`` is what the beat task, the in-process scheduler and
``manage.py ingest_prices`` call. A cycle that cannot reach quorum writes nothing:
the latest record then expires with its TTL and trading pauses, and the reason is
kept (``price_ingest_last``) for the API's 503 and for ops.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
from django.conf import settings
from django.core.cache import cache

from core.timefmt import iso_utc
from pricing.aggregate import IndexPrice, Limits, QuorumNotMet, aggregate
from pricing.fetch import FetchResult, build_sources, fetch_all
from pricing.offline import Tape, load_ohlc_csv, spread_around, synthetic_next
from pricing.selectors import INGEST_LAST_KEY, PriceQuote
from pricing.services.health import source_health_record
from pricing.services.lock import ingest_lock
from pricing.services.ticks import price_tick_accept
from pricing.sources import Observation

logger = logging.getLogger("pricing")
STABLE_RATES_KEY = "pricing:stable_rates"
REPLAY_ORIGIN_KEY = "pricing:replay:origin"
SYNTHETIC_STATE_KEY = "pricing:synthetic:state"


@dataclass
class IngestReport:
    mode: str
    at: datetime
    results: list[FetchResult] = field(default_factory=list)
    index: IndexPrice | None = None
    quote: PriceQuote | None = None
    reason: str = ""
    skipped: bool = False
    rejected: dict[str, str] = field(default_factory=dict)  # source -> why it was not used, ok or not

    @property
    def ok(self) -> bool:
        return self.quote is not None


def limits_from_settings(*, offline: bool) -> Limits:
    return Limits(
        quorum=1 if offline else settings.PRICE_QUORUM,
        outlier=settings.PRICE_OUTLIER_PCT,
        max_spread=settings.PRICE_MAX_SPREAD_PCT,
        max_conf_ratio=settings.PRICE_MAX_CONF_RATIO,
        max_ema_deviation=settings.PRICE_MAX_EMA_DEVIATION,
        max_source_age_seconds=settings.PRICE_SOURCE_MAX_AGE_SECONDS,
        max_future_seconds=settings.PRICE_SOURCE_MAX_FUTURE_SECONDS,
        stable_depeg=settings.PRICE_STABLE_DEPEG_PCT,
    )


# --- offline generators ---------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _tape(path: str, mtime_ns: int) -> Tape:
    return Tape(load_ohlc_csv(path))


def replay_tape() -> Tape:
    path = str(Path(settings.PRICE_REPLAY_CSV))
    return _tape(path, os.stat(path).st_mtime_ns)


def replay_observation(*, now: datetime) -> Observation:
    """The tape price at ``now``: the first cycle pins the wall-clock origin in the cache."""
    tape = replay_tape()
    cache.add(REPLAY_ORIGIN_KEY, now.isoformat(), timeout=None)
    origin = datetime.fromisoformat(cache.get(REPLAY_ORIGIN_KEY) or now.isoformat())
    elapsed_us = max(0, (now - origin) // timedelta(microseconds=1))
    t = tape.replay_time(
        elapsed_microseconds=elapsed_us, speed=settings.PRICE_REPLAY_SPEED, start=settings.PRICE_REPLAY_START or None
    )
    price = tape.price_at(t)
    bid, ask = spread_around(price, settings.PRICE_OFFLINE_SPREAD_BPS)
    return Observation(
        source=f"replay:{Path(settings.PRICE_REPLAY_CSV).name}"[:64], price=price, bid=bid, ask=ask, received_at=now
    )


def synthetic_observation(*, now: datetime) -> Observation:
    """The next step of the seeded walk; the walk's state lives in the cache."""
    state = cache.get(SYNTHETIC_STATE_KEY) or {"step": 0, "price": str(settings.PRICE_SYNTHETIC_START)}
    step = state["step"] + 1
    price = synthetic_next(
        price=Decimal(state["price"]),
        step=step,
        seed=settings.PRICE_SYNTHETIC_SEED,
        volatility=settings.PRICE_SYNTHETIC_VOLATILITY,
    )
    cache.set(SYNTHETIC_STATE_KEY, {"step": step, "price": str(price)}, timeout=None)
    bid, ask = spread_around(price, settings.PRICE_OFFLINE_SPREAD_BPS)
    return Observation(
        source=f"synthetic:seed={settings.PRICE_SYNTHETIC_SEED}", price=price, bid=bid, ask=ask, received_at=now
    )


# --- the cycle ----------------------------------------------------------------------------------


def _live_observations(report: IngestReport, client: httpx.Client | None) -> tuple[list[Observation], dict, dict]:
    report.results = fetch_all(build_sources(), client=client, now=report.at)
    observations = [r.reading.observation for r in report.results if r.reading is not None]
    failed = {r.source: f"{r.status}: {r.error}" for r in report.results if r.reading is None}
    rates: dict[str, Decimal] = {}
    for result in report.results:
        if result.reading is not None:
            rates.update(result.reading.stable_rates)
    if rates:
        cache.set(STABLE_RATES_KEY, {k: str(v) for k, v in rates.items()}, timeout=600)
    else:
        rates = {k: Decimal(v) for k, v in (cache.get(STABLE_RATES_KEY) or {}).items()}
    return observations, failed, rates


_announced: set[str] = set()


def _announce(mode: str) -> None:
    """Say once per process which price mode runs; offline modes are a warning, never silent."""
    if mode in _announced:
        return
    _announced.add(mode)
    if mode == "live":
        logger.info("price mode: live, sources %s, quorum %s", ",".join(settings.PRICE_SOURCES), settings.PRICE_QUORUM)
    elif mode == "replay":
        logger.warning(
            "price mode: REPLAY (prices are NOT live) from %s at %sx",
            settings.PRICE_REPLAY_CSV,
            settings.PRICE_REPLAY_SPEED,
        )
    else:
        logger.warning("price mode: SYNTHETIC (prices are NOT live), seed %s", settings.PRICE_SYNTHETIC_SEED)


def price_ingest_run(*, now: datetime | None = None, client: httpx.Client | None = None) -> IngestReport:
    """Run one cycle without the lock (use ``price_ingest_cycle`` from schedulers)."""
    mode = settings.PRICE_MODE
    _announce(mode)
    report = IngestReport(mode=mode, at=now or datetime.now(timezone.utc))
    rates: dict[str, Decimal] = {}
    failed: dict[str, str] = {}
    try:
        if mode == "live":
            observations, failed, rates = _live_observations(report, client)
        elif mode == "replay":
            observations = [replay_observation(now=report.at)]
        else:
            observations = [synthetic_observation(now=report.at)]
        index = aggregate(
            observations,
            limits=limits_from_settings(offline=mode != "live"),
            now=report.at,
            stable_rates=rates,
            rejected=failed,
        )
    except QuorumNotMet as exc:  # also SourcesDisagree
        report.reason = f"no price: {exc.reason}"
        report.rejected = exc.rejected
        index = None
        logger.warning("price ingest (%s): %s", mode, report.reason)
    except (OSError, ValueError) as exc:  # unreadable replay tape and the like
        report.reason = f"no price: {mode} source failed: {exc}"
        index = None
        logger.error("price ingest (%s): %s", mode, report.reason)
    report.index = index
    if index is not None:
        report.rejected = index.rejected
    for result in report.results:
        reason = report.rejected.get(result.source) if result.reading is not None else None
        source_health_record(result=result, rejected_reason=reason, at=report.at)
    if index is not None:
        report.quote = price_tick_accept(index=index, mode=mode, computed_at=report.at)
    cache.set(INGEST_LAST_KEY, _summary(report), timeout=None)
    return report


def price_ingest_cycle(*, now: datetime | None = None, client: httpx.Client | None = None) -> IngestReport:
    """One locked cycle; a cycle that finds another running is skipped, never queued."""
    with ingest_lock() as acquired:
        if not acquired:
            return IngestReport(
                mode=settings.PRICE_MODE,
                at=now or datetime.now(timezone.utc),
                skipped=True,
                reason="another ingest cycle is running",
            )
        return price_ingest_run(now=now, client=client)


def _summary(report: IngestReport) -> dict:
    rejected = report.rejected
    return {
        "at": iso_utc(report.at, timespec="microseconds"),
        "mode": report.mode,
        "ok": report.ok,
        "reason": report.reason,
        "price": str(report.quote.price) if report.quote else None,
        "sources": {
            r.source: {
                "status": "rejected" if r.source in rejected and r.reading is not None else r.status,
                "price": str(r.reading.observation.price) if r.reading else None,
                "error": rejected.get(r.source, r.error) if r.reading else r.error,
                "latency_ms": r.latency_ms,
            }
            for r in report.results
        },
    }
