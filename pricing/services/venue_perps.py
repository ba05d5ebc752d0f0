"""Poll the venues' perp market data (Backpack mark prices, Binance's premium index, Hyperliquid's
asset contexts) and keep each venue's latest answer in Redis for the ticks' marks
(``pricing.venue_marks``).

``venue_perps_poll`` is what the beat task ``pricing.poll_venue_perps`` (and the in-process
scheduler) calls every ``PERP_POLL_INTERVAL_SECONDS`` in live mode: one request per venue for every
listed perp market it lists (the registry's ``venue_ids``), all venues concurrently, explicit
timeouts. A venue that answered stores ``{at, marks: {perp symbol: observation}}`` with the TTL
``PERP_OBSERVATION_MAX_AGE_SECONDS`` (a venue that stops answering drops out of the marks by
itself); its marks are converted to USD with the stablecoin rates the last ingest saw, like the
index (``pricing.aggregate.to_usd``'s rule). Health: one ``SourceHealth`` row per venue
(``perp:<venue>``) and the cycle's summary (``PERP_LAST_KEY``); a 429 / 418 cools the venue down.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db.models import F

from core.timefmt import iso_utc
from pricing.fetch import default_client
from pricing.markets import Registry, registry_get
from pricing.models import SourceHealth
from pricing.perp_sources import PERP_SOURCE_CLASSES, PerpObservation, PerpReading, PerpSource
from pricing.services.ingest import STABLE_RATES_KEY
from pricing.sources import SourceError, SourceRateLimited
from pricing.venue_marks import venue_key

logger = logging.getLogger("pricing")
PERP_LAST_KEY = "pricing:perp_venues:last"
COOLDOWN_KEY = "pricing:perp_cooldown:{venue}"
INTERVALS_KEY = "pricing:perp_intervals:{venue}"


@dataclass
class VenueResult:
    venue: str
    status: str  # ok / error / rate_limited / cooldown
    error: str = ""
    latency_ms: int | None = None
    reading: PerpReading | None = None
    retry_after: int | None = None
    stored: dict[str, dict] = field(default_factory=dict)  # perp symbol -> stored observation


def build_perp_sources() -> list[PerpSource]:
    urls = {
        "backpack": settings.BACKPACK_API_URL,
        "binance": settings.BINANCE_FUTURES_API_URL,
        "hyperliquid": settings.HYPERLIQUID_API_URL,
    }
    return [PERP_SOURCE_CLASSES[name](base_url=urls[name]) for name in settings.PERP_VENUES]


def venue_instruments(registry: Registry) -> dict[str, dict[str, str]]:
    """Venue -> {its instrument id: our perp symbol} over the listed perp markets."""
    out: dict[str, dict[str, str]] = {}
    for market in registry.markets.values():
        if market.is_perp and market.listed:
            for venue, instrument in market.venue_ids.items():
                out.setdefault(venue, {})[instrument] = market.symbol
    return out


def contract_sizes(registry: Registry) -> dict[str, Decimal]:
    """Perp symbol -> the units of its token one venue contract quotes, where not 1 (BONK-PERP: 1000)."""
    return {m.symbol: m.contract_size for m in registry.markets.values() if m.is_perp and m.contract_size != 1}


def fetch_venue(source: PerpSource, ids: list[str], client: httpx.Client) -> VenueResult:
    """One request and its parse; never raises (an adapter's bug fails that venue only)."""
    started = time.monotonic()
    spec = source.request(ids)
    try:
        response = client.request(
            spec.method, source.base_url + spec.path, params=tuple(spec.params), content=spec.content,
            headers={"Content-Type": "application/json"} if spec.content is not None else None,
        )  # fmt: skip
        received = datetime.now(timezone.utc)
        latency = int((time.monotonic() - started) * 1000)
        reading = source.parse(
            status=response.status_code, body=response.content, headers=dict(response.headers),
            received_at=received, ids=ids,
        )  # fmt: skip
        return VenueResult(source.name, "ok", latency_ms=latency, reading=reading)
    except SourceRateLimited as exc:
        return VenueResult(source.name, "rate_limited", error=exc.message, retry_after=exc.retry_after)
    except SourceError as exc:
        return VenueResult(source.name, "error", error=exc.message[:300])
    except httpx.HTTPError as exc:
        return VenueResult(source.name, "error", error=f"{type(exc).__name__}: {exc}"[:300])
    except Exception as exc:
        logger.exception("perp venue %s: unexpected error", source.name)
        return VenueResult(source.name, "error", error=f"unexpected {type(exc).__name__}: {exc}"[:300])


def intervals_refresh(source: PerpSource, client: httpx.Client, moment: datetime) -> None:
    """Give ``source`` its instruments' own funding intervals (``intervals_request``: Binance's
    symbols at 4 h or 1 h), kept in Redis a day: fetched again after
    ``PERP_INTERVALS_REFRESH_SECONDS``, a minute after a failure; the last list known meanwhile
    (none known: every symbol at the venue's interval). Never raises."""
    spec = source.intervals_request()
    if spec is None:
        return
    key = INTERVALS_KEY.format(venue=source.name)
    known = cache.get(key) or {}
    source.intervals = dict(known.get("intervals") or {})
    if known.get("next_at") and datetime.fromisoformat(known["next_at"]) > moment:
        return
    try:
        response = client.request(spec.method, source.base_url + spec.path, params=tuple(spec.params))
        source.intervals = source.parse_intervals(status=response.status_code, body=response.content)
        refresh = timedelta(seconds=settings.PERP_INTERVALS_REFRESH_SECONDS)
        known = {"intervals": source.intervals, "fetched_at": iso_utc(moment), "error": "",
                 "next_at": (moment + refresh).isoformat()}  # fmt: skip
    except Exception as exc:  # a venue's failure, or an adapter's bug: the marks' poll goes on
        reason = exc.message if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, (SourceError, httpx.HTTPError)):
            logger.exception("perp venue %s: unexpected error reading its funding intervals", source.name)
        # A warning when it starts failing; while it keeps failing (a minute apart), debug.
        logger.log(logging.DEBUG if known.get("error") else logging.WARNING,
                   "perp venue %s: funding intervals not refreshed (%s); %d known kept",
                   source.name, reason[:200], len(source.intervals))  # fmt: skip
        known = {**known, "intervals": source.intervals, "error": reason[:300],
                 "next_at": (moment + timedelta(seconds=60)).isoformat()}  # fmt: skip
    cache.set(key, known, timeout=86400)


def _to_usd(price: Decimal, quote: str, rates: dict[str, Decimal]) -> Decimal:
    rate = rates.get(quote)
    if rate is None or not rate.is_finite() or rate <= 0 or abs(rate - 1) <= settings.PRICE_STABLE_DEPEG_PCT:
        return price
    return price * rate


def _stored(obs: PerpObservation, rates: dict[str, Decimal], contract_size: Decimal = Decimal(1)) -> dict:
    """The observation as kept in the venue's answer: prices in USD per unit of the token (a
    venue contract of ``contract_size`` units, 1000BONKUSDT's 1000, is divided out)."""
    return {
        "mark": str(_to_usd(obs.mark, obs.quote, rates) / contract_size),
        "index": str(_to_usd(obs.index, obs.quote, rates) / contract_size) if obs.index is not None else None,
        "funding_rate": str(obs.funding_rate) if obs.funding_rate is not None else None,
        "interval_hours": obs.interval_hours,
        "quote": obs.quote,
        "instrument": obs.instrument,
        "next_funding_at": iso_utc(obs.next_funding_at) if obs.next_funding_at else None,
        "received_at": iso_utc(obs.received_at or datetime.now(timezone.utc), timespec="microseconds"),
    }


def _cooling(venue: str, now: datetime) -> datetime | None:
    raw = cache.get(COOLDOWN_KEY.format(venue=venue))
    until = datetime.fromisoformat(raw) if raw else None
    return until if until and until > now else None


def venue_perps_poll(*, now: datetime | None = None, client: httpx.Client | None = None) -> dict:
    """One poll of every enabled venue for the listed perps it lists; returns the cycle summary."""
    moment = now or datetime.now(timezone.utc)
    if settings.PRICE_MODE != "live":
        return {"at": iso_utc(moment), "skipped": f"{settings.PRICE_MODE} mode: marks are the index"}
    wanted = venue_instruments(registry_get())
    jobs, results = [], []
    for source in build_perp_sources():
        ids = sorted(wanted.get(source.name, {}))
        if not ids:
            continue
        until = _cooling(source.name, moment)
        if until is not None:
            results.append(VenueResult(source.name, "cooldown", error=f"cooling down until {until.isoformat()}"))
        else:
            jobs.append((source, ids))
    if jobs:
        http = client or default_client()

        def fetch(job: tuple[PerpSource, list[str]]) -> VenueResult:
            intervals_refresh(job[0], http, moment)
            return fetch_venue(job[0], job[1], http)

        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="perp-fetch") as pool:
            results += list(pool.map(fetch, jobs))
    rates = {k: Decimal(v) for k, v in (cache.get(STABLE_RATES_KEY) or {}).items()}
    summary: dict = {"at": iso_utc(moment), "venues": {}}
    for result in results:
        _store(result, wanted.get(result.venue, {}), rates, moment)
        _health(result, moment)
        summary["venues"][result.venue] = {
            "status": result.status, "error": result.error, "latency_ms": result.latency_ms,
            "markets": sorted(result.stored),
            "errors": {wanted[result.venue].get(i, i): why for i, why in (result.reading.errors.items()
                                                                          if result.reading else [])},
        }  # fmt: skip
    cache.set(PERP_LAST_KEY, summary, timeout=None)
    return summary


def _store(result: VenueResult, symbols: dict[str, str], rates: dict[str, Decimal], moment: datetime) -> None:
    if result.status == "rate_limited":
        seconds = max(1, min(result.retry_after or settings.PRICE_SOURCE_COOLDOWN_SECONDS,
                             settings.PRICE_SOURCE_MAX_COOLDOWN_SECONDS))  # fmt: skip
        until = moment + timedelta(seconds=seconds)
        cache.set(COOLDOWN_KEY.format(venue=result.venue), until.isoformat(), timeout=seconds)
    if result.reading is None:
        return
    sizes = contract_sizes(registry_get())
    result.stored = {
        symbols[i]: _stored(obs, rates, sizes.get(symbols[i], Decimal(1)))
        for i, obs in result.reading.observations.items()
        if i in symbols
    }
    if result.stored:
        venue_answer_merge(result.venue, result.stored, moment)


def venue_answer_merge(venue: str, stored: dict[str, dict], moment: datetime) -> None:
    """Write ``stored`` (perp symbol -> ``_stored`` observation) into the venue's answer, each
    market keeping the newer of its stored and its new observation (``received_at``): the poll
    (every 5 s) and the stream service (a venue's streamed marks, every second) both write it, and
    the older never replaces the newer. A read then a write: a lost race costs one update, which
    the next write brings."""
    key = venue_key(venue)
    current = cache.get(key)
    marks = dict(current.get("marks") or {}) if isinstance(current, dict) else {}
    for symbol, entry in stored.items():
        old = marks.get(symbol)
        if not isinstance(old, dict) or str(old.get("received_at", "")) <= entry["received_at"]:
            marks[symbol] = entry
    answer = {"at": iso_utc(moment, timespec="microseconds"), "marks": marks}
    cache.set(key, answer, timeout=settings.PERP_OBSERVATION_MAX_AGE_SECONDS)


def venue_marks_stored(observations: list[PerpObservation], symbols: dict[str, str]) -> dict[str, dict]:
    """``_stored`` for the observations of the instruments in ``symbols`` (venue id -> perp symbol),
    their marks in USD at the last ingest's stablecoin rates (the stream service's entry)."""
    rates = {k: Decimal(v) for k, v in (cache.get(STABLE_RATES_KEY) or {}).items()}
    sizes = contract_sizes(registry_get())
    return {
        symbols[o.instrument]: _stored(o, rates, sizes.get(symbols[o.instrument], Decimal(1)))
        for o in observations
        if o.instrument in symbols
    }


def _health(result: VenueResult, at: datetime) -> None:
    """The venue's ``SourceHealth`` row (``perp:<venue>``): its last status, error and mark."""
    row, _ = SourceHealth.objects.get_or_create(name=f"perp:{result.venue}")
    fields: dict = {"last_latency_ms": result.latency_ms}
    if result.status == "ok":
        first = next(iter(result.stored.values()), None)
        problems = "; ".join(f"{i}: {why}" for i, why in result.reading.errors.items()) if result.reading else ""
        fields.update(last_status=SourceHealth.Status.OK, last_success_at=at, successes=F("successes") + 1)
        if first is not None:
            fields.update(last_price=Decimal(first["mark"]).quantize(Decimal("1e-12")), last_quote=first["quote"])
        if problems:
            fields.update(last_error=problems[:300], last_error_at=at)
    elif result.status == "cooldown":
        fields.update(last_status=SourceHealth.Status.COOLDOWN, last_latency_ms=None)
    else:
        status = SourceHealth.Status.RATE_LIMITED if result.status == "rate_limited" else SourceHealth.Status.ERROR
        fields.update(last_status=status, last_error=result.error[:300], last_error_at=at, failures=F("failures") + 1)
    SourceHealth.objects.filter(pk=row.pk).update(**fields)


def venue_perps_last() -> dict | None:
    """What the last poll did: ``{at, venues: {venue: {status, error, latency_ms, markets, errors}}}``."""
    return cache.get(PERP_LAST_KEY)
