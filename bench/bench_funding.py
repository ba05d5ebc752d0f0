"""Funding settlement of 100,000 open positions (docs/positions.md, "Funding").

    .venv/bin/python bench/bench_funding.py

One process on a scratch PostgreSQL database: seeds the liquidation bench's book
(``liquidation_seed.py``: BENCH_POSITIONS open SOL-PERP positions of as many users, half long,
half short, every margin lock in the ledger), then settles BENCH_REPEATS funding times (the last
ones before now, oldest first, so each repeat charges every position again) with
``funding_settle``: the whole call, its durable transaction committed and every event
(``funding_payment`` per position, ``portfolio_update`` per account) stored and published to Redis
pub/sub (the channel layer's ``publish_many``, run on commit inside the call). A venue rate of
0.0001 at a mark of 100.05 (the index record's ``perps`` entry): every position pays or
receives, none is liquidated. Printed per repeat: wall, this process's CPU, PostgreSQL's CPU (the
whole server's, shared with whatever else runs), the load average before and after, the payments
and events; then ``manage.py reconcile``'s verdict (BENCH_RECONCILE=0 skips it).

Knobs: BENCH_POSITIONS (100000), BENCH_REPEATS (3), BENCH_RECONCILE (1), BENCH_PG_ADMIN_URL,
BENCH_REDIS_URL (redis://127.0.0.1:6379/9), BENCH_FLOOR (1: after the repeats, after a CHECKPOINT, the
two row writes no settlement can avoid, alone and rolled back: the positions' margin and
liquidation price, the owners' USD rows -- the floor under any design that charges each position
at its funding time), BENCH_PROFILE (0: 1 prints each statement's time, the
settlement statement's plan and the Python profile), BENCH_TEMPLATE (a database name: seeded and
kept the first time, then each run settles on a fresh copy of it; drop it after a schema change).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

POSITIONS = int(os.environ.get("BENCH_POSITIONS", "100000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
RECONCILE = os.environ.get("BENCH_RECONCILE", "1") == "1"
FLOOR = os.environ.get("BENCH_FLOOR", "1") == "1"
PROFILE = os.environ.get("BENCH_PROFILE", "0") == "1"
TEMPLATE = os.environ.get("BENCH_TEMPLATE", "")


def _price_record() -> None:
    """SOL-USD at 100 with SOL-PERP's venue mark 100.05 and rate 0.0001 (``pricing.marks``)."""
    from django.core.cache import cache

    from pricing.selectors import last_price_key, latest_price_key

    record = {
        "symbol": "SOL-USD", "price": "100", "bid": None, "ask": None, "sources": ["pyth", "coinbase"],
        "computed_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "mode": "live",
        "perps": {"SOL-PERP": {"mark": "100.05", "mark_sources": ["backpack", "binance"], "funding_rate": "0.0001",
                               "funding_sources": ["backpack", "binance"]}},
    }  # fmt: skip
    cache.set_many({latest_price_key("SOL-USD"): record, last_price_key("SOL-USD"): record}, timeout=600)


def _settle_once(funding_time: datetime) -> dict:
    from measure import postgres_cpu

    from realtime.models import UserEvent
    from trading.models import FundingPayment
    from trading.services.funding import funding_settle

    _price_record()
    events_before = UserEvent.objects.count()
    load_before = os.getloadavg()[0]
    pg0, cpu0, wall0 = postgres_cpu(), time.process_time(), time.perf_counter()
    if PROFILE:
        outcome = _profiled(lambda: funding_settle(symbol="SOL-PERP", funding_time=funding_time))
    else:
        outcome = funding_settle(symbol="SOL-PERP", funding_time=funding_time)
    wall, cpu, pg = time.perf_counter() - wall0, time.process_time() - cpu0, postgres_cpu() - pg0
    return {
        "funding_time": funding_time.isoformat(), "payments": outcome.payments, "liquidated": len(outcome.liquidated),
        "stored": FundingPayment.objects.filter(funding_time=funding_time).count(),
        "events": UserEvent.objects.count() - events_before, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "pg_cpu_s": round(pg, 3), "load_before": load_before, "load_after": os.getloadavg()[0],
    }  # fmt: skip


def _profiled(call):
    """``call()`` with each statement's wall time and the Python profile's top functions printed."""
    import cProfile
    import pstats

    from django.db import connection

    timings: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql, params))

    profile = cProfile.Profile()
    with connection.execute_wrapper(timed):
        result = profile.runcall(call)
    for seconds, sql, _params in timings:
        print(f"  {seconds * 1000:8.1f} ms  {sql[:90]}")
    _explain(timings)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return result


def _explain(timings: list) -> None:
    """The settlement statement's plan with its run times, run again an hour earlier and rolled back."""
    from django.db import connection, transaction

    _seconds, sql, params = max(timings, key=lambda row: row[0])
    params = {**params, "time": params["time"] - timedelta(hours=1)}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING) " + sql, params)
                print("\n".join(row[0] for row in cursor.fetchall()))
            raise _Rollback
    except _Rollback:
        pass


class _Rollback(Exception):
    pass


def _floor() -> None:
    """The positions' and the owners' USD rows' UPDATE alone, as the settlement writes them (new
    margin, accrued funding, liquidation price; total and locked), each timed, then rolled back."""
    from django.db import connection, transaction

    statements = {
        "positions": "UPDATE trading_position SET margin = margin - 0.000001, funding_accrued = funding_accrued "
        "- 0.000001, liquidation_price = liquidation_price + 0.000001, updated_at = now() "
        "WHERE symbol = 'SOL-PERP' AND status = 'open'",
        "USD balances": "UPDATE portfolio_balance SET total = total - 0.000001, locked = locked - 0.000001, "
        "updated_at = now() WHERE asset = 'USD' AND shard = 0 AND account_id IN (SELECT account_id "
        "FROM trading_position WHERE symbol = 'SOL-PERP' AND status = 'open')",
    }
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    took = {}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for name, sql in statements.items():
                    started = time.perf_counter()
                    cursor.execute(sql)
                    took[name] = (cursor.rowcount, time.perf_counter() - started)
            raise _Rollback
    except _Rollback:
        pass
    print(
        "floor (each UPDATE alone, after a CHECKPOINT, rolled back): "
        + ", ".join(f"{name} {rows} rows {seconds:.2f} s" for name, (rows, seconds) in took.items())
        + f"; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def _seed() -> None:
    """Migrate this process's database and seed the book (its positions opened a day ago)."""
    from django.core.management import call_command
    from django.db import connection
    from liquidation_seed import seed

    from trading.funding_maths import funding_time_at_or_before
    from trading.models import Position

    call_command("migrate", "--noinput", verbosity=0)
    started = time.perf_counter()
    seed(positions=POSITIONS, users=POSITIONS)
    latest = funding_time_at_or_before(datetime.now(timezone.utc), interval_hours=1)
    Position.objects.update(opened_at=latest - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")  # as autovacuum leaves a live table
    print(f"seeded {POSITIONS} positions in {time.perf_counter() - started:.1f} s", flush=True)


def _template_ensure() -> None:
    """BENCH_TEMPLATE seeded by a child process, unless it exists already."""
    import subprocess

    import psycopg

    admin = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEMPLATE]).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    env = {**os.environ, "BENCH_SEED_INTO": f"{admin.rsplit('/', 1)[0]}/{TEMPLATE}"}
    subprocess.run([sys.executable, __file__], env=env, check=True)


def main() -> None:
    from measure import scratch_database

    if TEMPLATE:
        _template_ensure()
    with scratch_database("bench_funding", template=TEMPLATE, FUNDING_LATE_GRACE_SECONDS="86400"):
        import django

        django.setup()
        from trading.funding_maths import funding_time_at_or_before

        if not TEMPLATE:
            _seed()
        latest = funding_time_at_or_before(datetime.now(timezone.utc), interval_hours=1)
        for n in range(REPEATS):
            row = _settle_once(latest - timedelta(hours=REPEATS - 1 - n))
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        if RECONCILE:
            from portfolio.reconcile import reconcile_run

            breaches = {name: problems[:3] for name, problems in reconcile_run().items() if problems}
            print("reconcile:", "clean" if not breaches else breaches, flush=True)
        if FLOOR:
            _floor()
    print("rate 0.0001 at mark", Decimal("100.05"), "- one market, one funding time per repeat")


def seed_into(url: str) -> None:
    """The child of ``_template_ensure``: seed the database at ``url``."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev", DEBUG="0", DATABASE_URL=url, LOG_LEVEL="WARNING",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"), INPROCESS_JOBS="0",
    )  # fmt: skip
    import django

    django.setup()
    _seed()


if __name__ == "__main__":
    if os.environ.get("BENCH_SEED_INTO"):
        seed_into(os.environ["BENCH_SEED_INTO"])
    else:
        main()
