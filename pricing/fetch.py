"""Fetch every enabled live source concurrently (threads + one shared httpx client), each for
all the instruments it lists, in as few requests as it allows.

Only workers call this. No database access happens in the fetch threads; cooldowns
after a 429/418 live in the cache (``pricing:cooldown:<name>``) so every worker
honours them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.cache import cache

from pricing.sources import SOURCE_CLASSES, Observation, PriceSource, Reading, SourceError, SourceRateLimited

logger = logging.getLogger("pricing")
USER_AGENT = "solpaper-pricing/1.0"
COOLDOWN_KEY = "pricing:cooldown:{name}"
MAX_CONCURRENT_REQUESTS = 16


@dataclass(frozen=True)
class FetchResult:
    """One source's outcome of a cycle, over all its requests: ``reading`` merges what its
    answers held (an observation or an error per instrument id); ``None`` when none was usable."""

    source: str
    status: str  # ok / error / rate_limited / cooldown
    reading: Reading | None = None
    error: str = ""
    latency_ms: int | None = None
    cooldown_until: datetime | None = None
    retry_after: int | None = None
    requests: int = 0


@dataclass(frozen=True)
class Answer:
    """One HTTP request's outcome (a batch of ids)."""

    source: str
    ids: tuple[str, ...]
    status: str  # ok / error / rate_limited
    reading: Reading | None = None
    error: str = ""
    latency_ms: int = 0
    retry_after: int | None = None
    unknown_id: bool = False


def build_sources() -> list[PriceSource]:
    """The enabled live sources, in ``PRICE_SOURCES`` order, with env-overridden URLs and keys."""
    wiring = {
        "pyth": (settings.PYTH_HERMES_URL, settings.PYTH_API_KEY),
        "jupiter": (settings.JUPITER_PRICE_URL, settings.JUPITER_API_KEY),
        "backpack": (settings.BACKPACK_API_URL, None),
        "coinbase": (settings.COINBASE_API_URL, None),
        "kraken": (settings.KRAKEN_API_URL, None),
        "binance": (settings.BINANCE_API_URL, settings.BINANCE_API_KEY),
    }
    return [
        SOURCE_CLASSES[name](base_url=wiring[name][0], api_key=wiring[name][1])
        for name in settings.PRICE_SOURCES
        if name in SOURCE_CLASSES
    ]


def http_timeout(connect_ms: int, read_ms: int) -> httpx.Timeout:
    """Explicit connect/read timeouts (settings are Decimal seconds; httpx wants seconds)."""
    return httpx.Timeout(connect=connect_ms / 1000, read=read_ms / 1000, write=read_ms / 1000, pool=connect_ms / 1000)


@functools.lru_cache(maxsize=4)
def _shared_client(connect_ms: int, read_ms: int) -> httpx.Client:
    return httpx.Client(
        timeout=http_timeout(connect_ms, read_ms),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=False,
    )


def default_client() -> httpx.Client:
    """One keep-alive client per process (sources are polled every couple of seconds)."""
    return _shared_client(int(settings.PRICE_HTTP_CONNECT_TIMEOUT * 1000), int(settings.PRICE_HTTP_READ_TIMEOUT * 1000))


def cooldown_until(name: str) -> datetime | None:
    raw = cache.get(COOLDOWN_KEY.format(name=name))
    return datetime.fromisoformat(raw) if raw else None


def _start_cooldown(name: str, retry_after: int | None, now: datetime) -> datetime:
    seconds = settings.PRICE_SOURCE_COOLDOWN_SECONDS if retry_after is None else retry_after
    seconds = max(1, min(seconds, settings.PRICE_SOURCE_MAX_COOLDOWN_SECONDS))
    until = now + timedelta(seconds=seconds)
    cache.set(COOLDOWN_KEY.format(name=name), until.isoformat(), timeout=seconds)
    return until


def fetch_one(source: PriceSource, ids: Sequence[str], client: httpx.Client) -> Answer:
    """One HTTP call for ``ids`` and its parse; never raises: every error, even an adapter's bug,
    becomes an answer."""
    started = time.monotonic()
    batch = tuple(ids)

    def failed(status: str, error: str, *, retry_after: int | None = None, unknown_id: bool = False) -> Answer:
        latency = int((time.monotonic() - started) * 1000)
        return Answer(
            source.name, batch, status, error=error[:300], latency_ms=latency, retry_after=retry_after,
            unknown_id=unknown_id,
        )  # fmt: skip

    try:
        spec = source.request(batch)
        # A tuple of pairs: httpx types a list of pairs as list[tuple[str, str | int | ...]] (invariant).
        response = client.get(source.base_url + spec.path, params=tuple(spec.params), headers=spec.headers)
        received_at = datetime.now(timezone.utc)
        latency = int((time.monotonic() - started) * 1000)
        reading = source.parse(
            status=response.status_code,
            body=response.content,
            headers=dict(response.headers),
            received_at=received_at,
            ids=batch,
        )
        return Answer(source.name, batch, "ok", reading=reading, latency_ms=latency)
    except SourceRateLimited as exc:  # fetch_all starts the cooldown (cache writes stay out of the threads)
        return failed("rate_limited", exc.message, retry_after=exc.retry_after)
    except SourceError as exc:
        return failed("error", exc.message, unknown_id=exc.unknown_id and len(batch) > 1)
    except httpx.HTTPError as exc:
        return failed("error", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug in one adapter must fail that source, not the cycle
        logger.exception("price source %s: unexpected error parsing its answer", source.name)
        return failed("error", f"unexpected {type(exc).__name__}: {exc}")


def _merge(source: str, answers: list[Answer]) -> FetchResult:
    """A source's answers as one result: observations, per-id errors (a failed request's error for
    each of its ids) and stablecoin rates; ok when any request was usable."""
    observations: dict[str, Observation] = {}
    errors: dict[str, str] = {}
    rates: dict[str, Decimal] = {}
    for answer in answers:
        if answer.reading is not None:
            observations.update(answer.reading.observations)
            errors.update(answer.reading.errors)
            rates.update(answer.reading.stable_rates)
        else:
            errors.update(dict.fromkeys(answer.ids, answer.error))
    for instrument in observations:
        errors.pop(instrument, None)
    limited = next((a for a in answers if a.status == "rate_limited"), None)
    usable = any(a.reading is not None for a in answers)
    messages = list(dict.fromkeys(a.error for a in answers if a.reading is None))
    return FetchResult(
        source=source,
        status="rate_limited" if limited else ("ok" if usable else "error"),
        reading=Reading(observations, errors, rates) if usable else None,
        error=limited.error if limited else ("" if usable else "; ".join(messages)[:300]),
        latency_ms=max((a.latency_ms for a in answers), default=None),
        retry_after=limited.retry_after if limited else None,
        requests=len(answers),
    )


def _run(jobs: list[tuple[PriceSource, list[str]]], client: httpx.Client) -> list[Answer]:
    if not jobs:
        return []
    workers = min(len(jobs), MAX_CONCURRENT_REQUESTS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="price-fetch") as pool:
        return list(pool.map(lambda job: fetch_one(job[0], job[1], client), jobs))


def fetch_all(
    sources: list[PriceSource],
    *,
    ids: Mapping[str, Sequence[str]],
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> list[FetchResult]:
    """Poll every source not cooling down for its instrument ids (``ids[source name]``), in as few
    requests as it allows, all requests concurrently; a batch refused for an unknown id is asked
    again one id per request. A source with no ids is not polled. Results in source order."""
    moment = now or datetime.now(timezone.utc)
    client = client or default_client()
    results: dict[str, FetchResult] = {}
    jobs: list[tuple[PriceSource, list[str]]] = []
    polled = [source for source in sources if ids.get(source.name)]
    for source in polled:
        until = cooldown_until(source.name)
        if until and until > moment:
            results[source.name] = FetchResult(
                source=source.name, status="cooldown", error=f"cooling down until {until.isoformat()}",
                cooldown_until=until,
            )  # fmt: skip
        else:
            jobs.extend((source, batch) for batch in source.batches(ids[source.name]))
    answers = _run(jobs, client)
    by_name = {source.name: source for source in polled}
    retry = [(by_name[a.source], [i]) for a in answers if a.unknown_id for i in a.ids]
    answers = [a for a in answers if not a.unknown_id] + _run(retry, client)
    grouped: dict[str, list[Answer]] = {}
    for answer in answers:
        grouped.setdefault(answer.source, []).append(answer)
    for name, group in grouped.items():
        result = _merge(name, group)
        if result.status == "rate_limited":
            until = _start_cooldown(name, result.retry_after, moment)
            error = f"{result.error}; cooling down until {until.isoformat()}"
            result = replace(result, error=error, cooldown_until=until)
        results[name] = result
    return [results[source.name] for source in polled]
