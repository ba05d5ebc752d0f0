"""Trigger engine with 100,000 resting limit orders (and 20,000 waiting stops) over 10,000 users on
PostgreSQL.

    .venv/bin/python bench/bench_triggers.py        (or `make bench`)
    BENCH_BEFORE_REF=<git ref> .venv/bin/python bench/bench_triggers.py   (that code too, alternated)

Seeds a template database once (``trigger_seed.py``: BENCH_ORDERS limit orders and BENCH_STOPS
waiting stops, that no bench tick crosses, of BENCH_USERS users, then VACUUM ANALYZE); every
measurement runs on its own fresh copy (``CREATE DATABASE ... TEMPLATE``; ``trigger_books.py``):

* ``quiet`` (once per book) -- a tick at 100 that crosses none: ``order_triggers_run`` alone and the
  whole tick task (``trading.liquidate_on_tick``: liquidations, stops, then limits), median of 50;
  the EXPLAIN ANALYZE of the limit engine's probe and candidates (at 95 and 99.9) and of the stop
  engine's statements (at 100: none crossed; at 125.5: some) (``trigger_plans.py``); then the
  cancels (``trigger_cancels.py``), for this code and BENCH_BEFORE_REF's: over HTTP against the
  real stack's web tier (``python -m config.supervisor --web``: nginx, gunicorn, daphne, prod
  settings) on that copy, one client alone (BENCH_CANCELS_ALONE) then BENCH_CANCEL_CLIENTS (8)
  clients, each its own traders' API keys, BENCH_CANCELS ``DELETE /api/v1/orders/{id}`` in all
  (p50/p90/p99; CPU per cancel of the web tier by part, of PostgreSQL and of the clients' own
  process); then the service, one cancel alone (its statements, wall and CPU) and from 8
  processes; then the whole request in one process through Django's WSGI handler (statements,
  CPU). ``bench_cancels.py`` runs these cancels alone on a copy of a book seeded before.
* ``before`` (once per book; BENCH_BEFORE=0 skips it) -- the one-order path this engine replaced:
  the candidates' query, then one transaction per order (``orders_fill_each``), in this process.
* ``fanout`` -- the production path: a real Celery worker (BENCH_WORKERS prefork processes) on the
  copy; the tick is sent through the Redis broker as ``trading.liquidate_on_tick``, which splits
  the crossed orders into lanes and hands the others to ``trading.fill_resting_lane`` tasks. Timed
  from the send until a Redis pub/sub subscriber of the users' groups has received every
  ``order_fill`` and ``portfolio_update`` (two per crossed order): all committed, all published;
  nothing polls PostgreSQL meanwhile (the orders, events and counts are checked after).
* ``inline`` -- one process: the engine called here with one lane, timed until it returns (all
  committed and published). BENCH_PROFILE=1 profiles it (``trigger_profile.py``).

With BENCH_BEFORE_REF each run of each mode also runs on a copy with that ref's code (checked out
under var/; ``<mode>@<ref>``), just before this code's. The busy tick is at 95 on each book index
(one tick per index, all at once), crossing every buy at 95 or more: 10 % of the limit orders.
Each copy then runs ``manage.py reconcile`` (any breach fails the bench) and is dropped. CPU: this
process (inline, before) or the worker's processes (fanout), and the whole PostgreSQL server (it
serves whatever else runs on the machine too). Every figure carries the load average (1 min).

Knobs: BENCH_ORDERS (100000), BENCH_USERS (10000), BENCH_STOPS (20000), BENCH_REPEATS (3),
BENCH_MODES ("fanout,inline"), BENCH_BEFORE (1), BENCH_BEFORE_REF, BENCH_WORKERS (2),
BENCH_MARKETS ("1": the books to run, by number of spot markets, e.g. "1,7"), BENCH_CANCEL_CLIENTS
(8), BENCH_CANCELS (800), BENCH_CANCELS_ALONE (50), BENCH_CANCEL_REQUESTS (300), BENCH_CHECKPOINT (1),
BENCH_PROFILE (0), TRADING_TRIGGER_BATCH, TRADING_TRIGGER_LANES, BENCH_PG_ADMIN_URL, BENCH_REDIS_URL
(redis://127.0.0.1:6379/9).
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
APP = Path(os.environ.get("BENCH_APP_ROOT") or ROOT)  # the code measured: this tree, or BENCH_BEFORE_REF's
sys.path.insert(0, str(APP))
sys.path.insert(0, str(ROOT / "bench"))

from bench_price import bench_price_set  # noqa: E402
from liquidation_books import REDIS_URL, child_env  # noqa: E402
from measure import cpu_reference, cpu_seconds, pool_children, postgres_cpu, wal_lsn, wal_since  # noqa: E402
from trigger_books import BOOKS, MARKETS, ORDERS, POSITIONS, STOPS, TPSL, USERS, WORKERS, book_run  # noqa: E402

BUSY, QUIET = "95", "100"
STOP_CROSSING = "125.5"  # crosses the buy stops at 125.01 .. 125.50 of the book (``trigger_seed``)
WORKER_LOG = ROOT / "var" / "bench_triggers_worker.log"  # the Celery worker's output (fanout)
EVENTS_PER_FILL = 2  # ``order_fill`` and ``portfolio_update`` (the fanout's end: the subscriber has them all)


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
    from trigger_seed import bench_spot_markets

    from pricing.markets import registry_clear, registry_get

    registry_clear()
    markets = registry_get().markets
    return list(dict.fromkeys(markets[symbol].index_symbol for symbol, _base in bench_spot_markets(MARKETS)))


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"median {statistics.median(ordered):.2f} ms, p95 {ordered[int(len(ordered) * 0.95) - 1]:.2f} ms, "
        f"max {ordered[-1]:.2f} ms ({len(ordered)} runs)"
    )


def quiet() -> None:
    """Ticks that cross none, the candidates' plans, then the cancels over HTTP."""
    from datetime import datetime, timezone
    from decimal import Decimal as D

    from django.core.management import call_command
    from trigger_plans import plans_print, quiet_parts

    from trading.services.order_triggers import _spot_markets, order_triggers_run
    from trading.tasks import liquidate_on_tick

    indexes = _indexes()
    bench_price_set(QUIET, indexes)
    engine, task = [], []
    for _ in range(50):
        t0 = time.perf_counter()
        report = order_triggers_run(index_symbol=indexes[0], price=D(QUIET), computed_at=datetime.now(timezone.utc))
        engine.append((time.perf_counter() - t0) * 1000)
        assert report.candidates == 0 and report.filled == [], report
        t0 = time.perf_counter()
        liquidate_on_tick.run(QUIET, datetime.now(timezone.utc).isoformat(), indexes[0])
        task.append((time.perf_counter() - t0) * 1000)
    print(f"tick that fills none (P={QUIET}, {indexes[0]}): order_triggers_run {_ms(engine)}")
    print(f"    the whole tick task (TP/SL, liquidations, entries, stops, limits): {_ms(task)}")
    for name, values in quiet_parts(indexes[0], QUIET):
        print(f"    {name} alone: {_ms(values)}")
    print(f"    (load average {os.getloadavg()[0]:.2f}, 1 min)")
    plans_print(list(_spot_markets(indexes[0])), busy=BUSY, stop_prices=(QUIET, STOP_CROSSING), quiet=QUIET)
    sys.stdout.flush()
    _cancels()
    call_command("reconcile", stdout=open(os.devnull, "w"))


def _cancels(parts: tuple[str, ...] = ("http", "service")) -> None:
    """Cancels on this copy, for this tree's code and (``BENCH_BEFORE_REF``) the before tree's:
    over HTTP (one client alone, then the clients at once), then the service (one alone:
    statements, wall, CPU; then from that many processes); ``parts``: which of the two."""
    from trigger_cancels import cancel_latency, cancel_service, http_line, service_lines

    env = child_env(os.environ["BENCH_DB"])
    before = os.environ.get("BENCH_BEFORE_TREE")
    trees = ([("before", Path(before))] if before else []) + [("after", ROOT)]
    for label, tree in trees if "http" in parts else []:
        print(http_line(label, cancel_latency(env=env, tree=tree)))
        sys.stdout.flush()
    for label, tree in trees if "service" in parts else []:
        print(service_lines(label, cancel_service(env=env, tree=tree)))
        sys.stdout.flush()


def _checkpoint_if_asked() -> None:
    if os.environ.get("BENCH_CHECKPOINT", "1") == "1":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        time.sleep(2)


def _still_crossed():
    from django.db.models import Q

    from trading.models import RESTING_LIMIT, Order

    return Order.objects.filter(RESTING_LIMIT, Q(side="buy", limit_price__gte=BUSY))


def _finish(*, mode: str, wall: float, filled: int, events: int, cpu: dict, wal: int, extra: str) -> None:
    from django.conf import settings
    from django.core.management import call_command

    left = _still_crossed().count()
    mode = os.environ.get("BENCH_LABEL", mode)
    print(
        f"[{mode}] tick that fills 10% (P={BUSY}): {filled} filled in {wall:.2f} s "
        f"({wall / max(1, filled) * 1e6:.0f} us each; batch {settings.TRADING_TRIGGER_BATCH}{extra}); "
        f"{events} user events stored and published; {left} crossed still resting; CPU "
        + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items())
        + f"; WAL {wal / 1e6:.1f} MB"
    )
    sys.stdout.flush()
    call_command("reconcile", stdout=open(os.devnull, "w"))  # exits 1 (and fails the bench) on any breach
    load = os.getloadavg()[0]
    print(f"    (load average {load:.2f}, 1 min)")
    print(
        "RESULT " + json.dumps({"wall": wall, "filled": filled, "events": events, "cpu": cpu, "wal": wal, "load": load})
    )


def in_process(mode: str) -> None:
    """``inline`` (the engine, one lane) or ``before`` (the candidates' query, then one
    transaction per order), one tick per index one after the other, in this process."""
    import gc
    from datetime import datetime, timezone
    from decimal import Decimal as D

    from django.conf import settings
    from trigger_profile import profiled

    from realtime.models import UserEvent
    from trading.services.order_triggers import (
        Touch,
        _spot_markets,
        crossed_orders,
        order_triggers_run,
        orders_fill_each,
    )

    settings.TRADING_TRIGGER_LANES = 1
    indexes = _indexes()
    gc.collect()
    bench_price_set(BUSY, indexes)
    events_before = UserEvent.objects.count()
    _checkpoint_if_asked()
    lsn = wal_lsn()
    cpu0, pg0 = time.process_time(), postgres_cpu()
    t0 = time.perf_counter()
    filled = 0
    for index in indexes:
        now = datetime.now(timezone.utc)
        if mode == "inline":
            with profiled():
                report = order_triggers_run(index_symbol=index, price=D(BUSY), computed_at=now)
            assert report.lanes == 1 and report.dispatched == 0, report
            filled += len(report.filled)
        else:
            touch, markets = Touch(index=D(BUSY), buy=D(BUSY), sell=D(BUSY)), _spot_markets(index)
            rows = crossed_orders(symbols=list(markets), touch=touch, before=now)
            filled += len(orders_fill_each(rows, touch=touch, markets=markets))
    wall = time.perf_counter() - t0
    cpu = {"this process": time.process_time() - cpu0, "PostgreSQL server": postgres_cpu() - pg0}
    extra = "; one lane" if mode == "inline" else "; the one-order path: one transaction per order"
    _finish(mode=mode, wall=wall, filled=filled, events=UserEvent.objects.count() - events_before, cpu=cpu,
            wal=wal_since(lsn), extra=f"{extra}; {len(indexes)} index tick(s)")  # fmt: skip


def fanout() -> None:
    import threading
    from datetime import datetime, timezone

    import redis
    from celery import Celery
    from django.conf import settings

    from realtime.models import UserEvent
    from trading.models import Order

    indexes = _indexes()
    name = os.environ["BENCH_DB"]
    redis.Redis.from_url(REDIS_URL).delete("celery")  # the bench's broker db: no task left from an earlier run
    WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(WORKER_LOG, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", str(WORKERS)]
            + ["--pool", "prefork", "-l", os.environ.get("BENCH_WORKER_LOG", "WARNING")]
            + "--without-gossip --without-mingle --without-heartbeat".split()
            + ["-n", f"{name}@%h"],
            cwd=APP, env=child_env(name, PYTHONPATH=str(APP)), start_new_session=True, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    broker = Celery("bench-sender", broker=REDIS_URL)
    received = {"count": 0, "last": 0.0}
    stop = threading.Event()
    try:
        children = pool_children(worker, WORKERS)
        bench_price_set(QUIET, indexes)
        for _ in range(4 * WORKERS):  # warm every pool process: imports, DB and Redis connections
            broker.send_task("trading.liquidate_on_tick", args=(QUIET, datetime.now(timezone.utc).isoformat()))
        time.sleep(2)
        pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(f"{name}__group__user.*")

        def listen() -> None:
            while not stop.is_set():
                if pubsub.get_message(timeout=0.5) is not None:
                    received["count"] += 1
                    received["last"] = time.perf_counter()

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.2)
        bench_price_set(BUSY, indexes)
        crossed = _still_crossed()
        expected = crossed.count()
        events_before = UserEvent.objects.count()
        _checkpoint_if_asked()
        lsn = wal_lsn()
        cpu0, pg0 = cpu_seconds(children), postgres_cpu()
        t0 = time.perf_counter()
        for index in indexes:  # one tick per index, all sent at once
            broker.send_task("trading.liquidate_on_tick", args=(BUSY, datetime.now(timezone.utc).isoformat(), index))
        deadline, wanted = t0 + 300, EVENTS_PER_FILL * expected
        # Done when the subscriber has every event: each is published after its batch's commit, so
        # the last one means all committed and all published. Nothing polls PostgreSQL meanwhile (a
        # poll of the crossed orders every 20 ms, as before, walked the index entries and heap rows
        # of the orders filled so far -- not dead to all while a lane's transaction is open -- and
        # took CPU from the tick it timed); what it checked is checked after instead.
        while received["count"] < wanted:
            assert time.perf_counter() < deadline and worker.poll() is None, f"{received['count']} of {wanted} seen"
            time.sleep(0.005)
        wall = received["last"] - t0
        cpu = {f"worker ({WORKERS} processes)": cpu_seconds(children) - cpu0, "PostgreSQL server": postgres_cpu() - pg0}
        stored = UserEvent.objects.count() - events_before
        filled = Order.objects.filter(status="filled").count()
        assert filled == expected and not crossed.exists(), (filled, expected)
        extra = f"; TRADING_TRIGGER_LANES={settings.TRADING_TRIGGER_LANES}; {len(indexes)} index tick(s)"
        _finish(mode="fanout", wall=wall, filled=filled, events=stored, cpu=cpu, wal=wal_since(lsn), extra=extra)
        assert received["count"] == stored, (received["count"], stored)
    finally:
        stop.set()
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)


if __name__ == "__main__":
    modes = ("--seed", "--quiet", "--before", "--inline", "--fanout")
    if any(mode in sys.argv for mode in modes):
        import django

        django.setup()
        if "--seed" in sys.argv:
            from trigger_seed import positions_seed, seed

            positions_seed(positions=POSITIONS, tpsl=TPSL)
            seed(orders=ORDERS, users=USERS, markets=MARKETS, stops=STOPS)
        elif "--quiet" in sys.argv:
            quiet()
        elif "--fanout" in sys.argv:
            fanout()
        else:
            in_process("before" if "--before" in sys.argv else "inline")
    else:
        main()
