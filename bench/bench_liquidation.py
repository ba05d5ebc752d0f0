"""Liquidation engine with 100,000 open positions on PostgreSQL.

    .venv/bin/python bench/bench_liquidation.py        (or `make bench`)

Seeds a template database once (``liquidation_seed.py``: BENCH_USERS users, BENCH_POSITIONS
positions, then VACUUM ANALYZE), then for each of BENCH_REPEATS runs and each mode takes a fresh
copy of it (``CREATE DATABASE ... TEMPLATE``) and times a tick at 85 that liquidates 10%:

* ``fanout`` -- the production path: a real Celery worker (BENCH_WORKERS prefork processes) on
  the copy; the tick is sent through the Redis broker as ``trading.liquidate_on_tick``, whose task
  splits the candidates into lanes and hands the others to ``trading.liquidate_lane`` tasks.
  Timed from the send until a Redis pub/sub subscriber of the users' groups has received every
  ``position_liquidated`` and ``portfolio_update`` the tick stored: all committed, all published.
* ``inline`` -- one process: this process calls the engine directly with one lane (what a single
  worker process does), timed until it returns (all committed and published).

The first copy also times a tick at 95 that liquidates none (median of 50) and prints the
EXPLAIN of the crossed query.

With 10 markets (issue 17; BENCH_MARKETS="1,10" runs both books, each on its own template): the
same 100,000 positions spread over 10 active perp markets (the registry's perps plus bench-only
token rows), 10,000 each. The quiet tick is one index's (SOL-USD at 95, the nine other markets'
positions in the table); the busy tick is a tick at 85 on each of the 10 indexes, sent at once
(fanout: ten ``trading.liquidate_on_tick`` tasks; inline: the ten runs one after the other), each
liquidating its own markets' 1,000 crossed positions: the same 10,000 liquidations and 20,000
events as the one-market book, timed the same way. Every copy then runs ``manage.py reconcile`` (any breach fails the
bench) and is dropped. CPU figures: this process (inline) or the worker's processes (fanout), and
the whole PostgreSQL server (read from /proc).

Knobs: BENCH_POSITIONS (100000), BENCH_USERS (= BENCH_POSITIONS: one net position per user and
market), BENCH_REPEATS (3), BENCH_MODES ("fanout,inline"), BENCH_WORKERS (2), BENCH_CHECKPOINT
(1: a CHECKPOINT and 2 s of quiet before each busy tick, so the WAL written by copying the
template never sets off a checkpoint inside the timed tick; every page the tick touches then
writes a full-page image, as right after any checkpoint; 0: no checkpoint),
POSITION_LIQUIDATION_BATCH, POSITION_LIQUIDATION_LANES, BENCH_MARKETS ("1,10": the books to run,
by number of active markets), BENCH_PG_ADMIN_URL, BENCH_REDIS_URL (redis://127.0.0.1:6379/9).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_price import bench_price_set  # noqa: E402
from liquidation_books import (  # noqa: E402
    BOOKS,
    MARKETS,
    POSITIONS,
    REDIS_URL,
    USERS,
    WORKERS,
    book_run,
    child_env,
)
from measure import cpu_reference, cpu_seconds, pool_children, postgres_cpu, wal_lsn, wal_since  # noqa: E402


def main() -> None:
    reference = cpu_reference()
    summaries = []
    for markets in BOOKS:
        summaries += book_run(markets, script=__file__)
    print(f"CPU reference (10M Python additions): {reference:.2f} s before the runs, {cpu_reference():.2f} s after")
    for line in summaries:
        print(line)


# --- measurement (child processes, inside django.setup()) -----------------------------------


def _indexes() -> list[str]:
    """The indexes of the book's markets (SOL-USD first)."""
    from liquidation_seed import bench_markets

    from pricing.markets import registry_clear, registry_get

    registry_clear()
    markets = registry_get().markets
    return list(dict.fromkeys(markets[symbol].index_symbol for symbol in bench_markets(MARKETS)))


def _quiet_ticks() -> None:
    from datetime import datetime, timezone
    from decimal import Decimal as D

    from trading.models import Position
    from trading.services.liquidation import liquidation_run

    bench_price_set(D(95), ["SOL-USD"], timeout=300)
    quiet = []
    for _ in range(50):
        t0 = time.perf_counter()
        report = liquidation_run(price=D(95), computed_at=datetime.now(timezone.utc), index_symbol="SOL-USD")
        quiet.append((time.perf_counter() - t0) * 1000)
        assert report.liquidated == [] and report.skipped is None and report.dispatched == 0
    print(
        f"tick that liquidates none (P=95, SOL-USD, {MARKETS} market(s) in the book): "
        f"median {statistics.median(quiet):.2f} ms, "
        f"p95 {sorted(quiet)[int(len(quiet) * 0.95) - 1]:.2f} ms, max {max(quiet):.2f} ms (50 runs)"
    )
    for price in (D(95), D(85)):
        query = Position.objects.filter(
            status="open", symbol="SOL-PERP", side="long", liquidation_price__gte=price
        ).values("id")
        print(f"EXPLAIN long leg at P={price}:", " | ".join(query.explain().splitlines()[:2]))


def _lanes_expected(price, indexes: list[str]) -> list[int]:
    """The lane sizes the ticks' tasks will make (the engine's own rule, run here first)."""
    from django.conf import settings

    from trading.perp_markets import perp_markets_by_index
    from trading.services.liquidation import _lanes_wanted, liquidation_candidate_rows
    from trading.services.liquidation_lanes import lanes_split

    sizes = []
    for index in indexes:
        rows = liquidation_candidate_rows(price=price, symbols=perp_markets_by_index()[index])
        lanes = lanes_split(rows, lanes=_lanes_wanted(len(rows)), shards=settings.LEDGER_SYSTEM_SHARDS)
        sizes += [len(lane) for lane in lanes]
    return sizes


def _checkpoint_if_asked() -> None:
    if os.environ.get("BENCH_CHECKPOINT", "1") == "1":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        time.sleep(2)


def _finish(*, mode: str, wall: float, liquidated: int, events: int, cpu: dict, wal: int, extra: str) -> None:
    from django.conf import settings
    from django.core.management import call_command

    from trading.models import Position, PositionStatus

    left = Position.objects.filter(status=PositionStatus.OPEN).count()
    print(
        f"[{mode}] tick that liquidates 10% (P=85): {liquidated} liquidated in {wall:.2f} s "
        f"({wall / max(1, liquidated) * 1e6:.0f} us each; batch {settings.POSITION_LIQUIDATION_BATCH}{extra}); "
        f"{events} user events stored and published; {left} still open; CPU "
        + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items())
        + f"; WAL {wal / 1e6:.1f} MB"
    )
    sys.stdout.flush()
    call_command("reconcile", stdout=open(os.devnull, "w"))  # exits 1 (and fails the bench) on any breach
    print("RESULT " + json.dumps({"wall": wall, "liquidated": liquidated, "events": events, "cpu": cpu, "wal": wal}))


def inline(quiet: bool) -> None:
    import gc
    from datetime import datetime, timezone
    from decimal import Decimal as D

    from django.conf import settings

    from realtime.models import UserEvent
    from trading.services.liquidation import liquidation_run

    settings.POSITION_LIQUIDATION_LANES = 1
    indexes = _indexes()
    gc.collect()
    if quiet:
        _quiet_ticks()
    bench_price_set(D(85), indexes, timeout=300)
    events_before = UserEvent.objects.count()
    _checkpoint_if_asked()
    lsn = wal_lsn()
    cpu0, pg0 = time.process_time(), postgres_cpu()
    t0 = time.perf_counter()
    liquidated = 0
    for index in indexes:  # one tick per index, one after the other
        report = liquidation_run(price=D(85), computed_at=datetime.now(timezone.utc), index_symbol=index)
        assert report.lanes == 1 and report.dispatched == 0, report
        liquidated += len(report.liquidated)
    wall = time.perf_counter() - t0
    cpu = {"this process": time.process_time() - cpu0, "PostgreSQL server": postgres_cpu() - pg0}
    _finish(
        mode="inline",
        wall=wall,
        liquidated=liquidated,
        events=UserEvent.objects.count() - events_before,
        cpu=cpu,
        wal=wal_since(lsn),
        extra=f"; one lane; {len(indexes)} index tick(s)",
    )


def fanout(quiet: bool) -> None:
    import threading
    from datetime import datetime, timezone
    from decimal import Decimal as D

    import redis
    from celery import Celery
    from django.conf import settings

    from realtime.models import UserEvent
    from trading.models import Position, PositionStatus

    indexes = _indexes()
    if quiet:
        _quiet_ticks()
    name = os.environ["BENCH_DB"]
    redis.Redis.from_url(REDIS_URL).delete("celery")  # the bench's broker db: no task left from an earlier run
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", str(WORKERS), "--pool", "prefork"]
        + ["-l", os.environ.get("BENCH_WORKER_LOG", "WARNING")]
        + "--without-gossip --without-mingle --without-heartbeat".split()
        + ["-n", f"{name}@%h"],
        cwd=ROOT,
        env=child_env(name),
        start_new_session=True,
    )
    broker = Celery("bench-sender", broker=REDIS_URL)
    received = {"count": 0, "last": 0.0}
    stop = threading.Event()
    try:
        children = pool_children(worker, WORKERS)
        bench_price_set(D(95), ["SOL-USD"], timeout=300)
        for _ in range(4 * WORKERS):  # warm every pool process: imports, DB and Redis connections
            broker.send_task("trading.liquidate_on_tick", args=(str(D(95)), datetime.now(timezone.utc).isoformat()))
        time.sleep(2)

        client = redis.Redis.from_url(REDIS_URL)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(f"{name}__group__user.*")

        def listen() -> None:
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is not None:
                    received["count"] += 1
                    received["last"] = time.perf_counter()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.2)
        bench_price_set(D(85), indexes, timeout=300)
        lanes = _lanes_expected(D(85), indexes)
        assert lanes, "the seeded book has nothing for a tick at 85 to cross"
        events_before = UserEvent.objects.count()
        _checkpoint_if_asked()
        lsn = wal_lsn()
        cpu0, pg0 = cpu_seconds(children), postgres_cpu()
        crossed = Position.objects.filter(status=PositionStatus.OPEN, side="long", liquidation_price__gte=85)
        t0 = time.perf_counter()
        for index in indexes:  # one tick per index, all sent at once
            tick = (str(D(85)), datetime.now(timezone.utc).isoformat(), index)
            broker.send_task("trading.liquidate_on_tick", args=tick)
        deadline = t0 + 120
        while crossed.exists():  # every batch committed
            assert time.perf_counter() < deadline and worker.poll() is None, "the worker did not liquidate in time"
            time.sleep(0.02)
        stored = UserEvent.objects.count() - events_before
        while received["count"] < stored:  # every event of those batches published
            assert time.perf_counter() < deadline, f"published {received['count']} of {stored}"
            time.sleep(0.005)
        wall = received["last"] - t0
        cpu = {
            f"worker ({WORKERS} processes)": cpu_seconds(children) - cpu0,
            "PostgreSQL server": postgres_cpu() - pg0,
        }
        liquidated = Position.objects.filter(status=PositionStatus.LIQUIDATED).count()
        _finish(
            mode="fanout",
            wall=wall,
            liquidated=liquidated,
            events=stored,
            cpu=cpu,
            wal=wal_since(lsn),
            extra=f"; lanes {'+'.join(map(str, lanes))} of POSITION_LIQUIDATION_LANES="
            f"{settings.POSITION_LIQUIDATION_LANES}; {len(indexes)} index tick(s)",
        )
        assert received["count"] == stored, (received["count"], stored)
    finally:
        stop.set()
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)


if __name__ == "__main__":
    if "--seed" in sys.argv or "--inline" in sys.argv or "--fanout" in sys.argv:
        import django

        django.setup()
        if "--seed" in sys.argv:
            from liquidation_seed import seed

            seed(positions=POSITIONS, users=USERS, markets=MARKETS)
        elif "--inline" in sys.argv:
            inline("--quiet" in sys.argv)
        else:
            fanout("--quiet" in sys.argv)
    else:
        main()
