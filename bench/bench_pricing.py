"""Pricing figures: aggregation throughput, latest-price read latency, one ingest cycle for every
listed market (live against a local HTTP server serving recorded-format payloads for all tokens;
synthetic), and candle roll-up on read.

Run: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
      .venv/bin/python bench/bench_pricing.py`` (or ``make bench``). Writes to the configured
database's pricing tables (candles under mode ``bench``, removed afterwards) and the cache.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return f"median {statistics.median(ordered) * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms"


def main() -> None:
    import django

    django.setup()
    from django.conf import settings

    from pricing.aggregate import Limits, aggregate
    from pricing.models import Candle
    from pricing.selectors import candle_list, price_get_latest
    from pricing.services import candle_record_tick, price_ingest_cycle
    from pricing.sources import Observation

    now = datetime.now(timezone.utc)
    group = [Observation(f"s{i}", Decimal("79.08") + Decimal(i) / 100, received_at=now) for i in range(6)]
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        aggregate(group, limits=Limits(), now=now)
    elapsed = time.perf_counter() - started
    print(f"aggregate (6 sources): {n / elapsed:,.0f} per second")

    fixtures = ROOT / "tests" / "pricing" / "fixtures"
    sys.path.insert(0, str(ROOT))
    from pricing.markets import registry_get
    from tests.pricing.conftest import RECORDED, SOURCE_URL_SETTINGS, PriceServer, fresh_route

    assert fixtures.exists()
    # Every source answers every listed token in its recorded payload's format (SOL's entry scaled).
    server = PriceServer()
    server.thread.start()
    for source in RECORDED:
        server.serve(source, fresh_route(source))
    for name in SOURCE_URL_SETTINGS:
        setattr(settings, name, server.url)
    settings.PRICE_MODE = "live"
    settings.PRICE_SOURCES = list(RECORDED)
    registry = registry_get()
    markets, indexes = len(registry.markets), len(registry.index_symbols())
    cycles = []
    for _ in range(30):
        started = time.perf_counter()
        report = price_ingest_cycle()
        cycles.append(time.perf_counter() - started)
        assert report.ok, report.reason
    requests = sum(r.requests for r in report.results)
    print(
        f"ingest cycle, live, {markets} markets on {indexes} indexes, 6 local sources in {requests} requests "
        f"(DB health + candles + cache + publish per index): {_ms(cycles)}"
    )
    _venue_perps(server, settings)
    server.httpd.shutdown()
    server.httpd.server_close()

    settings.PRICE_MODE = "synthetic"
    cycles = []
    for _ in range(100):
        started = time.perf_counter()
        report = price_ingest_cycle()
        cycles.append(time.perf_counter() - started)
        assert report.ok, report.reason
    print(f"ingest cycle, synthetic, {indexes} indexes: {_ms(cycles)}")
    settings.PRICE_MODE = "live"

    reads = []
    for _ in range(2000):
        started = time.perf_counter()
        price_get_latest()
        reads.append(time.perf_counter() - started)
    print(f"price_get_latest ({settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}): {_ms(reads)}")

    base = now.replace(second=0, microsecond=0) - timedelta(days=7)
    Candle.objects.filter(mode="bench").delete()
    Candle.objects.bulk_create(
        Candle(
            mode="bench",
            start=base + timedelta(minutes=i),
            open=Decimal(100),
            high=Decimal(101),
            low=Decimal(99),
            close=Decimal(100),
            ticks=30,
            sources=5,
            updated_at=now,
        )
        for i in range(7 * 1440)
    )
    for interval, limit in (("1m", 1000), ("1h", 168), ("1d", 7)):
        samples = []
        for _ in range(10):
            started = time.perf_counter()
            candle_list(interval=interval, limit=limit, end=base + timedelta(days=7), mode="bench")
            samples.append(time.perf_counter() - started)
        print(f"candles {interval} x{limit} (rolled up from 1m rows): {_ms(samples)}")
    started = time.perf_counter()
    for i in range(500):
        candle_record_tick(price=Decimal(100) + i, sources=5, at=now + timedelta(seconds=i % 60), mode="bench")
    print(f"candle_record_tick: {500 / (time.perf_counter() - started):,.0f} per second")
    Candle.objects.filter(mode="bench").delete()


def _venue_perps(server, settings) -> None:
    """One poll of the three venues' perp data (local server, recorded-format payloads), and the
    marks of one index's perps at a tick (the three venues' answers read in one round trip)."""
    from pricing.services.venue_perps import venue_perps_poll
    from pricing.venue_marks import perp_entries
    from tests.pricing.conftest import PERP_PATHS, PERP_RECORDED, json_route

    for venue, path in PERP_PATHS.items():
        server.routes[path] = json_route(PERP_RECORDED[venue])
    settings.BINANCE_FUTURES_API_URL = settings.HYPERLIQUID_API_URL = server.url
    settings.PERP_VENUES = list(PERP_PATHS)
    polls = []
    for _ in range(30):
        started = time.perf_counter()
        summary = venue_perps_poll()
        polls.append(time.perf_counter() - started)
        assert all(v["status"] == "ok" for v in summary["venues"].values()), summary
    print(f"venue perp poll, 3 local venues (requests + Redis + health rows): {_ms(polls)}")
    marks = []
    at = datetime.now(timezone.utc)
    for _ in range(2000):
        started = time.perf_counter()
        entries = perp_entries(perps={"SOL-PERP": Decimal("0.000001")}, index=Decimal("79.085"), at=at, live=True)
        marks.append(time.perf_counter() - started)
    assert entries["SOL-PERP"]["mark_sources"] == ["backpack", "binance", "hyperliquid"], entries
    print(f"perp marks at a tick (3 venue answers, one cache round trip): {_ms(marks)}")


if __name__ == "__main__":
    main()
