"""The stream service: one asyncio loop running a connection per streamed source, a fallback poller,
the tick gate and the ticks (``manage.py stream_prices``; docs/pricing.md, "Streams").

- Every enabled source in ``PRICE_STREAM_SOURCES`` with instruments in the registry gets one
  connection (Pyth over SSE, the others over WebSocket) for all its instruments.
- Frames land in the ``Book``; an index whose observation changed is evaluated as soon as the gate
  allows (``PRICE_MIN_TICK_MS`` after its last accepted tick), every index at least once per
  ``PRICE_TICK_HEARTBEAT_MS``: ``aggregate()`` over its sources' usable observations (quorum and
  outlier rules unchanged), and when the gate accepts, ``price_tick_accept`` (record, candle,
  ``price_update``, the engines' hook).
- Every ``PRICE_INGEST_INTERVAL_SECONDS`` the sources that are not streaming live (their stream
  down, or no stream at all: Jupiter) are polled through ``pricing.fetch``; their answers feed the
  same book. So no index depends on one connection.
- Django work (registry reads, ticks, health rows) runs on one writer thread, in order; the polls
  on another thread; frames never wait for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from pricing.aggregate import QuorumNotMet, aggregate
from pricing.fetch import FetchResult, build_sources, fetch_all
from pricing.markets import TokenSpec, registry_get
from pricing.selectors import INGEST_LAST_KEY
from pricing.services.health import SourceOutcome, source_health_record
from pricing.services.ingest import STABLE_RATES_KEY, instrument_ids, limits_from_settings
from pricing.services.ticks import price_tick_accept
from pricing.streams.backpack import BackpackStream
from pricing.streams.binance import BinanceStream
from pricing.streams.book import Book
from pricing.streams.coinbase import CoinbaseStream
from pricing.streams.connection import Lifecycle, Timing, WsConnection
from pricing.streams.frames import Frame
from pricing.streams.gate import TickGate
from pricing.streams.health import stream_health_write, stream_heartbeat_clear, stream_heartbeat_write
from pricing.streams.kraken import KrakenStream
from pricing.streams.lapses import LapseLog
from pricing.streams.marks import MarkRelay, marks_perp_ids
from pricing.streams.pyth import PythStream
from pricing.streams.sse import SseConnection
from pricing.streams.summary import index_outcome, stream_summary

logger = logging.getLogger("pricing.streams")
HOUSEKEEPING_SECONDS = 0.25
SHUTDOWN_SECONDS = 5.0


def timing_from_settings() -> Timing:
    return Timing(
        connect=float(settings.PRICE_STREAM_CONNECT_TIMEOUT), subscribe=float(settings.PRICE_STREAM_SUBSCRIBE_TIMEOUT),
        ping=float(settings.PRICE_STREAM_PING_SECONDS), stale=float(settings.PRICE_STREAM_STALE_SECONDS),
        backoff_base=float(settings.PRICE_STREAM_BACKOFF_BASE), backoff_max=float(settings.PRICE_STREAM_BACKOFF_MAX),
        max_bad=settings.PRICE_STREAM_MAX_BAD_FRAMES,
    )  # fmt: skip


def build_connection(name: str, ids: list[str], *, sink, timing: Timing) -> Lifecycle:  # noqa: ANN001
    if name == "pyth":
        return SseConnection(PythStream(settings.PYTH_HERMES_URL, settings.PYTH_API_KEY), ids, sink=sink, timing=timing)
    protocols = {"backpack": (BackpackStream, settings.BACKPACK_WS_URL),
                 "coinbase": (CoinbaseStream, settings.COINBASE_WS_URL),
                 "kraken": (KrakenStream, settings.KRAKEN_WS_URL),
                 "binance": (BinanceStream, settings.BINANCE_WS_URL)}  # fmt: skip
    cls, url = protocols[name]
    return WsConnection(cls(url), ids, sink=sink, timing=timing)


def _load_tokens() -> list[TokenSpec]:
    registry = registry_get()
    return [t for s in registry.index_symbols() if (t := registry.token_for_index(s)) is not None]


def _load_markets() -> dict[str, list[str]]:
    """Index symbol -> its listed markets (``price_update`` and the summary name them)."""
    markets: dict[str, list[str]] = {}
    for market in registry_get().markets.values():
        if market.listed:
            markets.setdefault(market.index_symbol, []).append(market.symbol)
    return markets


class StreamService:
    """Run with ``await service.run(stop)``; ``stop`` (an ``asyncio.Event``) ends it."""

    def __init__(self) -> None:
        self.book = Book()
        self.gate = TickGate(
            min_tick=settings.PRICE_MIN_TICK_MS / 1000, heartbeat=settings.PRICE_TICK_HEARTBEAT_MS / 1000
        )
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streams-writer")
        self.connections: dict[str, Lifecycle] = {}
        self.tasks: set[asyncio.Task] = set()
        self.tokens: list[TokenSpec] = []
        self.by_instrument: dict[tuple[str, str], list[str]] = {}  # (source, id) -> index symbols
        self.pending: set[str] = set()
        self.stable_rates: dict[str, Decimal] = {}
        self.accepted = 0
        self.stopping = False
        self.reasons: dict[str, str] = {}  # index -> why its last evaluation had no price
        self.outcomes: dict[str, dict] = {}  # index -> its last evaluation (summary.index_outcome)
        self.markets: dict[str, list[str]] = {}
        self.marks = MarkRelay()  # venue perp marks from the streams (Backpack's markPrice)
        self.lapses = LapseLog(
            started=time.monotonic(),
            startup_seconds=float(settings.PRICE_STREAM_CONNECT_TIMEOUT + settings.PRICE_STREAM_SUBSCRIBE_TIMEOUT
                                  + settings.PRICE_INGEST_INTERVAL_SECONDS),
        )  # fmt: skip

    # --- the sink of the connections -------------------------------------------------------
    def stream_live(self, name: str) -> None:
        logger.info("stream %s live", name)

    def stream_down(self, name: str, reason: str) -> None:
        self.book.drop(name, origin="stream")
        for index in {i for (source, _), idx in self.by_instrument.items() if source == name for i in idx}:
            self.schedule(index)

    def stream_frame(self, name: str, frame: Frame, at: float) -> None:
        self.stable_rates.update(frame.stable_rates)
        if frame.marks:
            self.marks.take(name, frame.marks)
        for instrument, observation in frame.updates.items():
            indexes = self.by_instrument.get((name, instrument))
            if not indexes:
                continue
            self.book.put(name, instrument, observation, origin="stream", at=at)
            for index in indexes:
                self.schedule(index)

    # --- ticks ---------------------------------------------------------------------------
    def schedule(self, index: str) -> None:
        """Evaluate ``index`` as soon as the gate lets a change through (once, however many frames)."""
        if index in self.pending:
            return
        self.pending.add(index)
        delay = self.gate.wait(index, time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._spawn, index)

    def _spawn(self, index: str) -> None:
        if self.stopping:
            return
        task = asyncio.create_task(self.evaluate(index))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def evaluate(self, index: str) -> None:
        self.pending.discard(index)
        token = next((t for t in self.tokens if t.index_symbol == index), None)
        if token is None:
            return
        now = time.monotonic()
        observations, missing = self.book.inputs(
            token.source_ids, enabled=settings.PRICE_SOURCES, now=now, max_age=settings.PRICE_SOURCE_MAX_AGE_SECONDS
        )
        at = datetime.now(timezone.utc)
        try:
            price = aggregate(
                observations, limits=limits_from_settings(quorum=token.quorum), now=at,
                stable_rates=self.stable_rates, rejected=missing,
            )  # fmt: skip
        except QuorumNotMet as exc:
            if self.reasons.get(index) != exc.reason:
                logger.log(self.lapses.level(index, exc.reason, now), "streams %s: no price: %s", index, exc.reason)
            self.reasons[index] = exc.reason
            self._outcome(token, None, exc.reason, observations, exc.rejected)
            return
        if self.reasons.pop(index, None) is not None and self.lapses.cleared(index):
            logger.info("streams %s: price back (%s)", index, ", ".join(sorted(o.source for o in observations)))
        self._outcome(token, price, "", observations, price.rejected)
        if self.stopping or not self.gate.decide(index, price.price, now):
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.writer, self._accept, price, at, index)

    def _outcome(self, token: TokenSpec, price, reason: str, observations, rejected) -> None:  # noqa: ANN001
        origins = {s: e.origin for (s, i), e in self.book.entries.items() if token.source_ids.get(s) == i}
        self.outcomes[token.index_symbol] = index_outcome(
            price=price, reason=reason, observations=observations, rejected=rejected, quorum=token.quorum,
            markets=self.markets.get(token.index_symbol, []), origins=origins,
        )  # fmt: skip

    def _accept(self, price, at: datetime, index: str) -> None:  # noqa: ANN001
        try:
            price_tick_accept(index=price, mode="live", computed_at=at, symbol=index)
            self.accepted += 1
        except Exception:
            logger.exception("streams %s: accepting the tick failed", index)
        finally:
            close_old_connections()

    # --- polling what does not stream ------------------------------------------------------
    def _poll_once(self, names: list[str]) -> list[FetchResult]:
        sources = [s for s in build_sources() if s.name in names]
        ids = instrument_ids(self.tokens)
        return fetch_all(sources, ids={s.name: ids.get(s.name, []) for s in sources})

    def _record_polls(self, results: list[FetchResult]) -> None:
        at = datetime.now(timezone.utc)
        try:
            for result in results:
                reading = result.reading
                first = next(iter(reading.observations.values()), None) if reading else None
                status = "ok" if first is not None else (result.status if result.status != "ok" else "error")
                errors = "; ".join(reading.errors.values()) if reading else ""
                outcome = SourceOutcome(status=status, error=(result.error or errors)[:300], observation=first)
                source_health_record(result=result, outcome=outcome, at=at)
        finally:
            close_old_connections()

    async def poll(self) -> None:
        names = [n for n in settings.PRICE_SOURCES if not (n in self.connections and self.connections[n].health.live)]
        if not names or not self.tokens:
            return
        results = await asyncio.to_thread(self._poll_once, names)
        now = time.monotonic()
        for result in results:
            if result.source in self.connections and self.connections[result.source].health.live:
                continue  # it came back while the poll ran: the stream is fresher
            self.book.drop(result.source, origin="poll")  # a failed poll leaves no older answer in use
            if result.reading is None:
                continue
            self.stable_rates.update(result.reading.stable_rates)
            for instrument, observation in result.reading.observations.items():
                self.book.put(result.source, instrument, observation, origin="poll", at=now)
                for index in self.by_instrument.get((result.source, instrument), []):
                    self.schedule(index)
        await asyncio.get_running_loop().run_in_executor(self.writer, self._record_polls, results)

    async def poll_loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.poll()
            except Exception:
                logger.exception("streams: fallback poll failed")
            await asyncio.sleep(max(0.05, settings.PRICE_INGEST_INTERVAL_SECONDS - (time.monotonic() - started)))

    # --- wiring ----------------------------------------------------------------------------
    def _wire(self, tokens: list[TokenSpec]) -> dict[str, list[str]]:
        self.tokens = tokens
        self.by_instrument = {}
        for token in tokens:
            for source, instrument in token.source_ids.items():
                self.by_instrument.setdefault((source, instrument), []).append(token.index_symbol)
        ids = instrument_ids(tokens)
        streamed = [n for n in settings.PRICE_STREAM_SOURCES if n in settings.PRICE_SOURCES and ids.get(n)]
        return {name: [*ids[name], *self.marks.ids_for(name)] for name in streamed}

    async def housekeeping(self) -> None:
        """Health and heartbeat to the cache, heartbeat ticks, the registry's changes."""
        loop = asyncio.get_running_loop()
        last_write = last_registry = 0.0
        while True:
            now = time.monotonic()
            for token in self.tokens:
                if self.gate.heartbeat_due(token.index_symbol, now):
                    self.schedule(token.index_symbol)
            if now - last_write >= 1.0:
                healths = [c.health for c in self.connections.values()]
                summary = stream_summary(
                    at=datetime.now(timezone.utc), indexes=dict(self.outcomes),
                    streams={h.name: h.record() for h in healths},
                )  # fmt: skip
                await loop.run_in_executor(self.writer, self._write_health, healths, summary)
                if drained := self.marks.drain():
                    await loop.run_in_executor(self.writer, self.marks.write, drained)
                last_write = now
            if now - last_registry >= max(5.0, settings.MARKET_REGISTRY_TTL_SECONDS):
                tokens = await loop.run_in_executor(self.writer, _load_tokens)
                self.markets = await loop.run_in_executor(self.writer, _load_markets)
                perp_ids = await loop.run_in_executor(self.writer, marks_perp_ids, self.marks.perp_ids)
                if self._ids_of(tokens) != self._ids_of(self.tokens) or perp_ids != self.marks.perp_ids:
                    logger.info("streams: the registry changed; reconnecting")
                    self.marks.perp_ids = perp_ids
                    self._restart(tokens)
                last_registry = now
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    @staticmethod
    def _ids_of(tokens: list[TokenSpec]) -> dict[str, list[str]]:
        return instrument_ids(tokens)

    @staticmethod
    def _write_health(healths, summary: dict) -> None:  # noqa: ANN001
        stream_health_write(healths)
        stream_heartbeat_write(healths)
        cache.set(INGEST_LAST_KEY, summary, timeout=None)

    def _restart(self, tokens: list[TokenSpec]) -> None:
        """(Re)connect each source whose instruments changed (every one at the start); the others
        keep their connection and subscription."""
        wanted = self._wire(tokens)
        for name in list(self.connections):
            if wanted.get(name) != self.connections[name].ids:
                self.connections.pop(name).stop()
        for name, ids in wanted.items():
            if name not in self.connections:
                connection = build_connection(name, ids, sink=self, timing=timing_from_settings())
                connection.start()
                self.connections[name] = connection

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        tokens = await loop.run_in_executor(self.writer, _load_tokens)
        self.markets = await loop.run_in_executor(self.writer, _load_markets)
        self.marks.perp_ids = await loop.run_in_executor(self.writer, marks_perp_ids)
        rates = await loop.run_in_executor(self.writer, cache.get, STABLE_RATES_KEY)
        self.stable_rates = {k: Decimal(v) for k, v in (rates or {}).items()}
        self._restart(tokens)
        logger.info(
            "stream service: %d indexes; streaming %s; polling the rest every %ss",
            len(tokens), ", ".join(f"{n} ({len(c.ids)})" for n, c in self.connections.items()) or "nothing",
            settings.PRICE_INGEST_INTERVAL_SECONDS,
        )  # fmt: skip
        helpers = [asyncio.create_task(self.housekeeping()), asyncio.create_task(self.poll_loop())]
        try:
            await stop.wait()
        finally:
            self.stopping = True
            for connection in self.connections.values():
                connection.stop()
            for task in helpers:
                task.cancel()
            streams = [c.task for c in self.connections.values() if c.task is not None]
            await asyncio.wait([*helpers, *streams, *self.tasks], timeout=SHUTDOWN_SECONDS)
            await loop.run_in_executor(self.writer, stream_heartbeat_clear)
            await asyncio.to_thread(self.writer.shutdown, wait=True)
