"""One ingest cycle: poll the sources for every listed token (or run the offline generators),
aggregate each token's index on its own, accept each tick.

``price_ingest_cycle`` is what the beat task, the in-process scheduler and
``manage.py ingest_prices`` call. Every token with a listed market is fetched in one cycle, in as
few requests per source as the source allows (``pricing.fetch``). An index that cannot reach its
quorum writes nothing: its record expires with its TTL and trading on its markets pauses, while
the others go on; the reason is kept per index (``price_ingest_last``) for the API's 503 and ops.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.cache import cache

from pricing.aggregate import Limits, QuorumNotMet, aggregate
from pricing.fetch import FetchResult, build_sources, fetch_all
from pricing.markets import Registry, TokenSpec, registry_get
from pricing.selectors import INGEST_LAST_KEY
from pricing.services.health import source_health_record
from pricing.services.ingest_report import IndexReport, IngestReport, ingest_summary, source_outcomes
from pricing.services.lock import ingest_lock
from pricing.services.offline_feed import offline_mode_of, offline_observation
from pricing.services.ticks import price_tick_accept
from pricing.sources import Observation
from pricing.streams.health import stream_service_active

logger = logging.getLogger("pricing")
STABLE_RATES_KEY = "pricing:stable_rates"

__all__ = ["IndexReport", "IngestReport", "limits_from_settings", "price_ingest_cycle", "price_ingest_run"]


def limits_from_settings(*, quorum: int) -> Limits:
    return Limits(
        quorum=quorum,
        outlier=settings.PRICE_OUTLIER_PCT,
        max_spread=settings.PRICE_MAX_SPREAD_PCT,
        max_conf_ratio=settings.PRICE_MAX_CONF_RATIO,
        max_ema_deviation=settings.PRICE_MAX_EMA_DEVIATION,
        max_source_age_seconds=settings.PRICE_SOURCE_MAX_AGE_SECONDS,
        max_future_seconds=settings.PRICE_SOURCE_MAX_FUTURE_SECONDS,
        stable_depeg=settings.PRICE_STABLE_DEPEG_PCT,
    )


def instrument_ids(tokens: list[TokenSpec]) -> dict[str, list[str]]:
    """Source name -> the instrument ids to ask it for (every token it lists)."""
    ids: dict[str, list[str]] = {}
    for token in tokens:
        for source, instrument in token.source_ids.items():
            ids.setdefault(source, []).append(instrument)
    return ids


def _stable_rates(results: list[FetchResult]) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for result in results:
        if result.reading is not None:
            rates.update(result.reading.stable_rates)
    if rates:
        cache.set(STABLE_RATES_KEY, {k: str(v) for k, v in rates.items()}, timeout=600)
        return rates
    return {k: Decimal(v) for k, v in (cache.get(STABLE_RATES_KEY) or {}).items()}


def _live_inputs(token: TokenSpec, results: list[FetchResult], report: IndexReport) -> list[Observation]:
    """The token's observation from each source that lists it; the others' reasons in ``report.failed``."""
    for result in results:
        instrument = token.source_ids.get(result.source)
        if instrument is None:
            continue
        if result.reading is None:
            report.failed[result.source] = f"{result.status}: {result.error}"
        elif (obs := result.reading.observations.get(instrument)) is not None:
            report.observations[result.source] = obs
        else:
            why = result.reading.errors.get(instrument) or f"{instrument} is absent from the answer"
            report.failed[result.source] = f"error: {why}"
    return list(report.observations.values())


_announced: set[str] = set()


def _announce(mode: str) -> None:
    """Say once per process which price mode runs; offline modes are a warning, never silent."""
    if mode in _announced:
        return
    _announced.add(mode)
    if mode == "live":
        logger.info("price mode: live, sources %s, quorum per token", ",".join(settings.PRICE_SOURCES))
    elif mode == "replay":
        logger.warning(
            "price mode: REPLAY (prices are NOT live) of %s from %s at %sx; other tokens walk (synthetic)",
            settings.PRICE_REPLAY_SYMBOL,
            settings.PRICE_REPLAY_CSV,
            settings.PRICE_REPLAY_SPEED,
        )
    else:
        logger.warning("price mode: SYNTHETIC (prices are NOT live): a seeded walk per token")


def _index_report(registry: Registry, token: TokenSpec, mode: str) -> IndexReport:
    symbol = token.index_symbol
    markets = [m.symbol for m in registry.markets.values() if m.listed and m.index_symbol == symbol]
    if mode == "live":
        return IndexReport(symbol=symbol, mode="live", quorum=token.quorum, markets=markets)
    return IndexReport(symbol=symbol, mode=offline_mode_of(symbol, mode), quorum=1, markets=markets)


def _aggregate_one(index: IndexReport, token: TokenSpec, report: IngestReport, rates: dict[str, Decimal]) -> None:
    try:
        if report.mode == "live":
            observations = _live_inputs(token, report.results, index)
        else:
            obs = offline_observation(token=token, mode=report.mode, now=report.at)
            index.observations[obs.source] = obs
            observations = [obs]
        limits = limits_from_settings(quorum=index.quorum)
        index.index = aggregate(observations, limits=limits, now=report.at, stable_rates=rates, rejected=index.failed)
        index.rejected = index.index.rejected
    except QuorumNotMet as exc:  # also SourcesDisagree
        index.reason = f"no price: {exc.reason}"
        index.rejected = exc.rejected
        logger.warning("price ingest (%s) %s: %s", index.mode, index.symbol, index.reason)
    except (OSError, ValueError) as exc:  # unreadable replay tape and the like
        index.reason = f"no price: {index.mode} source failed: {exc}"
        logger.error("price ingest (%s) %s: %s", index.mode, index.symbol, index.reason)


def price_ingest_run(*, now: datetime | None = None, client: httpx.Client | None = None) -> IngestReport:
    """Run one cycle without the lock (use ``price_ingest_cycle`` from schedulers)."""
    mode = settings.PRICE_MODE
    _announce(mode)
    report = IngestReport(mode=mode, at=now or datetime.now(timezone.utc))
    registry = registry_get()
    tokens = [t for s in registry.index_symbols() if (t := registry.token_for_index(s)) is not None]
    rates: dict[str, Decimal] = {}
    if mode == "live":
        report.results = fetch_all(build_sources(), ids=instrument_ids(tokens), client=client, now=report.at)
        rates = _stable_rates(report.results)
    for token in tokens:
        index = report.indexes[token.index_symbol] = _index_report(registry, token, mode)
        _aggregate_one(index, token, report, rates)
    outcomes = source_outcomes(report)
    for result in report.results:
        source_health_record(result=result, outcome=outcomes[result.source], at=report.at)
    for index in report.indexes.values():
        if index.index is not None:
            index.quote = price_tick_accept(
                index=index.index, mode=index.mode, computed_at=report.at, symbol=index.symbol
            )
    cache.set(INGEST_LAST_KEY, ingest_summary(report, outcomes), timeout=None)
    return report


def price_ingest_cycle(*, now: datetime | None = None, client: httpx.Client | None = None) -> IngestReport:
    """One locked cycle; a cycle that finds another running is skipped, never queued. In live mode
    it steps aside while the stream service runs (its heartbeat is fresh: it polls what does not
    stream itself), so the index has one writer."""
    if settings.PRICE_MODE == "live" and stream_service_active():
        return IngestReport(
            mode="live", at=now or datetime.now(timezone.utc), skipped=True,
            skip_reason="the stream service is running (manage.py stream_prices)",
        )  # fmt: skip
    with ingest_lock() as acquired:
        if not acquired:
            return IngestReport(
                mode=settings.PRICE_MODE,
                at=now or datetime.now(timezone.utc),
                skipped=True,
                skip_reason="another ingest cycle is running",
            )
        return price_ingest_run(now=now, client=client)
