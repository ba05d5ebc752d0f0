"""Reads of market data. The API and WebSockets read the latest price from the
cache (Redis in the real stack) only; they never call a price source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from pricing.candle_math import INTERVALS, Bucket, bucket_start, roll_up
from pricing.errors import PriceStale, PriceUnavailable
from pricing.fetch import cooldown_until
from pricing.markets import registry_get
from pricing.models import Candle, SourceHealth
from pricing.streams.health import stream_health_get

INGEST_LAST_KEY = "pricing:ingest:last"
DEFAULT_INDEX = "SOL-USD"


def latest_price_key(index_symbol: str) -> str:
    """The Redis key of one token's latest index record (``price:latest:SOL-USD``)."""
    return f"price:latest:{index_symbol}"


LATEST_PRICE_KEY = latest_price_key(DEFAULT_INDEX)  # SOL's record


def last_price_key(index_symbol: str) -> str:
    """The key of one index's last accepted record, kept without a TTL (valuation when stale)."""
    return f"price:last:{index_symbol}"


@dataclass(frozen=True)
class PriceQuote:
    """One token's aggregated index (``SOL-USD``, ``BONK-USD``) as trading sees it."""

    symbol: str
    price: Decimal
    bid: Decimal | None
    ask: Decimal | None
    sources: tuple[str, ...]
    computed_at: datetime
    mode: str  # "live", "replay" or "synthetic"
    dispersion: Decimal | None = None  # (max - min) / price over the sources used
    # The perp markets on this index at this tick: ((symbol, mark), ...) from the record's
    # ``perps`` (pricing.marks); a perp not listed is marked at the index.
    marks: tuple[tuple[str, Decimal], ...] = ()

    @property
    def source_label(self) -> str:
        return ",".join(self.sources)

    def mark_of(self, symbol: str) -> Decimal:
        """The perp market ``symbol``'s mark at this tick (the index when the record has none)."""
        return next((mark for perp, mark in self.marks if perp == symbol), self.price)


def _parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def quote_from_record(record: dict) -> PriceQuote:
    return PriceQuote(
        symbol=record.get("symbol", DEFAULT_INDEX),
        price=Decimal(record["price"]),
        bid=Decimal(record["bid"]) if record.get("bid") else None,
        ask=Decimal(record["ask"]) if record.get("ask") else None,
        sources=tuple(record.get("sources") or ()),
        computed_at=_parse_time(record["computed_at"]),
        mode=record.get("mode", "live"),
        dispersion=Decimal(record["dispersion"]) if record.get("dispersion") else None,
        marks=tuple(
            (symbol, Decimal(entry["mark"]))
            for symbol, entry in (record.get("perps") or {}).items()
            if isinstance(entry, dict) and entry.get("mark")
        ),
    )


def price_latest_record(symbol: str = DEFAULT_INDEX) -> dict | None:
    """The latest aggregated record of one index, or ``None`` when missing (= stale) or Redis is down."""
    try:
        return cache.get(latest_price_key(symbol))
    except RedisError:  # no Redis, no price: 503 price_unavailable, never a 500
        return None


def price_latest_records(symbols: list[str]) -> dict[str, dict]:
    """The latest records of several indexes in one cache round trip (missing ones left out)."""
    if not symbols:
        return {}
    try:
        found = cache.get_many([latest_price_key(symbol) for symbol in symbols])
    except RedisError:
        return {}
    return {symbol: found[latest_price_key(symbol)] for symbol in symbols if latest_price_key(symbol) in found}


@dataclass(frozen=True)
class PriceMark:
    """What a holding is valued at: the fresh index, or the last one known, flagged ``stale``."""

    symbol: str
    price: Decimal
    computed_at: datetime
    stale: bool
    mode: str = "live"
    perps: tuple[tuple[str, Decimal], ...] = ()  # ((perp market, its mark), ...) from the same record
    record: dict | None = field(default=None, compare=False, repr=False)  # the record itself (pricing.marks)


def price_marks_get(symbols: list[str], *, now: datetime | None = None) -> dict[str, PriceMark]:
    """Each index's valuation price in two cache round trips at most: the fresh record when its
    age is within the staleness budget, else the last accepted one (``stale``); an index never
    priced is left out."""
    now = now or datetime.now(timezone.utc)
    fresh = price_latest_records(symbols)
    missing = [symbol for symbol in symbols if symbol not in fresh]
    last: dict[str, dict] = {}
    if missing:
        try:
            found = cache.get_many([last_price_key(symbol) for symbol in missing])
        except RedisError:
            found = {}
        last = {symbol: found[last_price_key(symbol)] for symbol in missing if last_price_key(symbol) in found}
    budget = settings.PRICE_STALE_SECONDS
    marks = {}
    for symbol, record in [*fresh.items(), *last.items()]:
        computed_at = _parse_time(record["computed_at"])
        age = (now - computed_at).total_seconds()
        stale = symbol not in fresh or age > budget or age < -5
        marks[symbol] = PriceMark(
            symbol=symbol, price=Decimal(record["price"]), computed_at=computed_at, stale=stale,
            mode=record.get("mode", "live"), perps=quote_from_record(record).marks, record=record,
        )  # fmt: skip
    return marks


def price_latest_age_seconds(*, now: datetime | None = None, symbol: str = DEFAULT_INDEX) -> float | None:
    record = price_latest_record(symbol)
    if not record:
        return None
    return ((now or datetime.now(timezone.utc)) - _parse_time(record["computed_at"])).total_seconds()


def price_ingest_last() -> dict | None:
    """What the last ingest cycle did: ``{at, mode, ok, reason, price, indexes: {SYM: {ok, reason,
    price, mode, quorum, markets, sources: {name: {status, price, error, latency_ms}}}},
    sources: {name: {status, error, latency_ms, requests}}}``."""
    try:
        return cache.get(INGEST_LAST_KEY)
    except RedisError:
        return {"reason": "Redis is unavailable"}


def price_get_latest(
    *, symbol: str = DEFAULT_INDEX, now: datetime | None = None, max_age_seconds: float | None = None
) -> PriceQuote:
    """The latest index of ``symbol`` (an index: ``SOL-USD``; a market reads its
    ``MarketSpec.index_symbol``), or ``PriceUnavailable`` / ``PriceStale`` (HTTP 503)
    (``price_fresh_record``)."""
    return quote_from_record(price_fresh_record(symbol=symbol, now=now, max_age_seconds=max_age_seconds))


def price_fresh_record(
    *, symbol: str = DEFAULT_INDEX, now: datetime | None = None, max_age_seconds: float | None = None
) -> dict:
    """The latest record of the index ``symbol`` when fresh, or ``PriceUnavailable`` /
    ``PriceStale`` (HTTP 503).

    The record carries its own TTL (the staleness budget), so a missing record
    may also mean stale; an old ``computed_at`` is refused explicitly too. When
    there is no record, the last ingest cycle's reason travels in ``extra.reason``.
    """
    record = price_latest_record(symbol)
    budget = settings.PRICE_STALE_SECONDS if max_age_seconds is None else max_age_seconds
    if not record:
        last = price_ingest_last() or {}
        reason = (last.get("indexes") or {}).get(symbol, {}).get("reason") or "no price has been ingested yet"
        raise PriceUnavailable(extra={"symbol": symbol, "reason": reason, "mode": settings.PRICE_MODE}, retry_after=2)
    computed_at = _parse_time(record["computed_at"])
    age = ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
    if age > budget or age < -5:
        raise PriceStale(
            extra={"symbol": symbol, "age_seconds": round(age, 3), "budget_seconds": budget}, retry_after=2
        )
    return record


# --- candles ------------------------------------------------------------------------------


def price_mode_of(index_symbol: str) -> str:
    """The mode an index's records are written in under the running ``PRICE_MODE`` (in replay mode
    only ``PRICE_REPLAY_SYMBOL`` replays; the other tokens walk: ``synthetic``)."""
    mode = settings.PRICE_MODE
    if mode == "replay" and index_symbol != settings.PRICE_REPLAY_SYMBOL:
        return "synthetic"
    return mode


def candle_list(
    *,
    interval: str,
    limit: int,
    end: datetime | None = None,
    mode: str | None = None,
    symbol: str = DEFAULT_INDEX,
) -> list[Bucket]:
    """The last ``limit`` candles of index ``symbol`` for ``interval`` starting before ``end``
    (default now), oldest first; ``mode`` defaults to the one the index is running in.

    1-minute rows are read from PostgreSQL and rolled up on read; the newest bucket may be partial.
    """
    width = INTERVALS[interval]
    end = end or datetime.now(timezone.utc)
    last = bucket_start(end - timedelta(microseconds=1), width)  # ``end`` is exclusive
    first = last - width * (limit - 1)
    rows = (
        Candle.objects.filter(symbol=symbol, mode=mode or price_mode_of(symbol), start__gte=first, start__lt=end)
        .order_by("start")
        .values_list("start", "open", "high", "low", "close", "ticks", "sources")
    )
    minutes = (Bucket(*row) for row in rows.iterator(chunk_size=2000))
    return roll_up(minutes, width)[-limit:]


def source_health_list(*, instruments: dict[str, str] | None = None) -> list[dict]:
    """Every configured source (in ``PRICE_SOURCES`` order) with its last known health and, given
    ``instruments`` (one token's ids), the id it is asked for (``None``: it does not list it)."""
    rows = {row.name: row for row in SourceHealth.objects.filter(name__in=settings.PRICE_SOURCES)}
    streams = stream_health_get(list(settings.PRICE_SOURCES))
    now = datetime.now(timezone.utc)
    out = []
    for name in settings.PRICE_SOURCES:
        row = rows.get(name)
        until = cooldown_until(name)
        out.append(
            {
                "name": name,
                "enabled": True,
                "instrument": (instruments or {}).get(name),
                "status": (row.last_status if row else "") or "never_polled",
                "cooldown_until": until if until and until > now else None,
                "last_success_at": row.last_success_at if row else None,
                "last_price": row.last_price if row else None,
                "last_quote": row.last_quote if row else "",
                "last_source_time": row.last_source_time if row else None,
                "last_latency_ms": row.last_latency_ms if row else None,
                "last_error_at": row.last_error_at if row else None,
                "last_error": row.last_error if row else "",
                "successes": row.successes if row else 0,
                "failures": row.failures if row else 0,
                "stream": streams.get(name),
            }
        )
    return out


def market_sources_get(*, symbol: str = DEFAULT_INDEX) -> dict:
    """For one index: the running price mode, its quorum, what the last ingest cycle did for it
    (``last_cycle``: ``{at, mode, ok, reason, price, quorum, markets, sources}``) and every
    source's health."""
    token = registry_get().token_for_index(symbol)
    last = price_ingest_last()
    cycle = None
    if last is not None:
        per_index = (last.get("indexes") or {}).get(symbol) or {"ok": False, "reason": last.get("reason", "")}
        cycle = {"at": last.get("at"), "mode": last.get("mode"), **per_index}
    return {
        "mode": price_mode_of(symbol),
        "symbol": symbol,
        "quorum": (token.quorum if token else 2) if settings.PRICE_MODE == "live" else 1,
        "last_cycle": cycle,
        "sources": source_health_list(instruments=token.source_ids if token else None),
    }
