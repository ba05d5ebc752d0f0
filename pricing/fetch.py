"""Fetch every enabled live source concurrently (threads + one shared httpx client).

Only workers call this. No database access happens in the fetch threads; cooldowns
after a 429/418 live in the cache (``pricing:cooldown:<name>``) so every worker
honours them.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import httpx
from django.conf import settings
from django.core.cache import cache

from pricing.sources import SOURCE_CLASSES, PriceSource, Reading, SourceError, SourceRateLimited

logger = logging.getLogger("pricing")
USER_AGENT = "solpaper-pricing/1.0"
COOLDOWN_KEY = "pricing:cooldown:{name}"


@dataclass(frozen=True)
class FetchResult:
    source: str
    status: str  # ok / error / rate_limited / cooldown
    reading: Reading | None = None
    error: str = ""
    latency_ms: int | None = None
    cooldown_until: datetime | None = None
    retry_after: int | None = None


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


def fetch_one(source: PriceSource, client: httpx.Client) -> FetchResult:
    """One HTTP call and parse; never raises: every error, even an adapter's bug, becomes a result."""
    started = time.monotonic()
    try:
        spec = source.request()
        # A tuple of pairs: httpx types a list of pairs as list[tuple[str, str | int | ...]] (invariant).
        params = tuple(spec.params)
        response = client.get(source.base_url + spec.path, params=params, headers=spec.headers)
        received_at = datetime.now(timezone.utc)
        latency = int((time.monotonic() - started) * 1000)
        reading = source.parse(
            status=response.status_code, body=response.content, headers=dict(response.headers), received_at=received_at
        )
        return FetchResult(source=source.name, status="ok", reading=reading, latency_ms=latency)
    except SourceRateLimited as exc:
        latency = int((time.monotonic() - started) * 1000)
        # fetch_all starts the cooldown (cache writes stay out of the worker threads)
        return FetchResult(
            source=source.name,
            status="rate_limited",
            error=exc.message,
            latency_ms=latency,
            retry_after=exc.retry_after,
        )
    except SourceError as exc:
        return FetchResult(
            source=source.name,
            status="error",
            error=exc.message[:300],
            latency_ms=int((time.monotonic() - started) * 1000),
        )
    except httpx.HTTPError as exc:
        kind = type(exc).__name__
        return FetchResult(
            source=source.name,
            status="error",
            error=f"{kind}: {exc}"[:300],
            latency_ms=int((time.monotonic() - started) * 1000),
        )
    except Exception as exc:  # a bug in one adapter must fail that source, not the cycle
        logger.exception("price source %s: unexpected error parsing its answer", source.name)
        return FetchResult(
            source=source.name,
            status="error",
            error=f"unexpected {type(exc).__name__}: {exc}"[:300],
            latency_ms=int((time.monotonic() - started) * 1000),
        )


def fetch_all(
    sources: list[PriceSource], *, client: httpx.Client | None = None, now: datetime | None = None
) -> list[FetchResult]:
    """Poll every source not cooling down, concurrently; results in source order."""
    moment = now or datetime.now(timezone.utc)
    client = client or default_client()
    results: dict[str, FetchResult] = {}
    active: list[PriceSource] = []
    for source in sources:
        until = cooldown_until(source.name)
        if until and until > moment:
            results[source.name] = FetchResult(
                source=source.name,
                status="cooldown",
                error=f"cooling down until {until.isoformat()}",
                cooldown_until=until,
            )
        else:
            active.append(source)
    if active:
        with ThreadPoolExecutor(max_workers=len(active), thread_name_prefix="price-fetch") as pool:
            for result in pool.map(lambda s: fetch_one(s, client), active):
                if result.status == "rate_limited":
                    until = _start_cooldown(result.source, result.retry_after, moment)
                    result = replace(
                        result, error=f"{result.error}; cooling down until {until.isoformat()}", cooldown_until=until
                    )
                results[result.source] = result
    return [results[source.name] for source in sources]
