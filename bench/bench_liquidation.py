"""Liquidation engine with 100,000 open positions on a fresh PostgreSQL database.

    .venv/bin/python bench/bench_liquidation.py        (or `make bench`)

Creates a scratch database (dropped afterwards), migrates it, bulk-inserts BENCH_USERS users
(books, grant and margin ledger rows) and BENCH_POSITIONS positions (half long, half short,
mmr 0, entry 100, margin 100): long liquidation prices spread over [65, 90), short ones over
[110, 135). Then times, in this Django process calling the services directly:

* a tick at 85 that liquidates 10% of the positions (all committed, every position_liquidated
  and portfolio_update stored and published to the Redis channel layer on commit);
* a tick at 95 that liquidates none (median of 50 runs), and the EXPLAIN of the crossed query;

with the busy tick's CPU time in this process and the part in Python's garbage collector; then
runs ``manage.py reconcile`` on the books it left (the bench fails on any breach).

Knobs: BENCH_POSITIONS (100000), BENCH_USERS (20000), POSITION_LIQUIDATION_BATCH (500),
BENCH_PG_ADMIN_URL, BENCH_REDIS_URL (redis://127.0.0.1:6379/9), BENCH_PROFILE=1 (cProfile of
the busy tick; it inflates per-call costs, ``py-spy record --idle -s`` is the truer picture).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
POSITIONS = int(os.environ.get("BENCH_POSITIONS", "100000"))
USERS = int(os.environ.get("BENCH_USERS", "20000"))


def main() -> None:
    """Create the scratch database, run the measurement in a child process, drop the database."""
    import psycopg

    name = f"solpaper_bench_liq_{uuid.uuid4().hex[:8]}"
    database_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=name,
        CHANNEL_LAYER_PREFIX=name,
        LOG_LEVEL="WARNING",
        INPROCESS_JOBS="0",
        PYTHONPATH=str(ROOT),
    )
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, __file__, "--child"], cwd=ROOT, env=env, check=True)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed() -> None:
    from decimal import Decimal as D

    from django.db import transaction

    from accounts.models import User
    from portfolio.models import (
        Balance,
        Epoch,
        LedgerAccount,
        LedgerEntry,
        LedgerTransaction,
        SpotHolding,
    )
    from portfolio.services import system_account_get
    from trading.models import Position, PositionEvent

    per_user = POSITIONS // USERS
    margin = D(100)
    grants = system_account_get(code="grants")
    for code in ("house", "fees", "insurance"):
        system_account_get(code=code)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"bench{i}", address=f"bench{i}") for i in range(USERS)], batch_size=5000
        )
        accounts = LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind="user", code=f"user:{u.pk}", user=u) for u in users], batch_size=5000
        )
        SpotHolding.objects.bulk_create([SpotHolding(account=a) for a in accounts], batch_size=5000)
        Epoch.objects.bulk_create(
            [Epoch(account=a, number=1, starting_equity=D(10000)) for a in accounts], batch_size=5000
        )
        locked = margin * per_user
        Balance.objects.bulk_create(
            [Balance(account=a, asset="USD", total=D(10000), locked=locked) for a in accounts]
            + [Balance(account=a, asset="SOL") for a in accounts],
            batch_size=5000,
        )
        Balance.objects.filter(account=grants, asset="USD", shard=0).update(total=-D(10000) * USERS)
        txns = LedgerTransaction.objects.bulk_create(
            [LedgerTransaction(reason="grant", reference_type="epoch", reference_id="1") for _ in accounts],
            batch_size=5000,
        )
        entries = []
        for account, txn in zip(accounts, txns, strict=True):
            entries += [
                LedgerEntry(txn=txn, account=account, asset="USD", amount=D(10000)),
                LedgerEntry(txn=txn, account=grants, asset="USD", amount=-D(10000)),
            ]
        LedgerEntry.objects.bulk_create(entries, batch_size=10000)

        positions, events = [], []
        margin_txns = LedgerTransaction.objects.bulk_create(
            [LedgerTransaction(reason="margin", reference_type="position") for _ in range(POSITIONS)],
            batch_size=5000,
        )
        for i in range(POSITIONS):
            account = accounts[i % USERS]
            side = "long" if i % 2 == 0 else "short"
            step = D(i // 2 % 2500) / 100  # 0.00 .. 24.99
            liq = D(65) + step if side == "long" else D(110) + step
            qty = (margin / abs(D(100) - liq)).quantize(D("0.000000001"))
            position = Position(
                id=uuid.uuid4(),
                user_id=account.user_id,
                account=account,
                client_order_id=f"b{i}",
                request_hash="bench",
                side=side,
                leverage=(qty * 100 / margin).quantize(D("0.01")),
                mmr=D(0),
                entry_price=D(100),
                index_price=D(100),
                qty=qty,
                margin=margin,
                initial_qty=qty,
                initial_margin=margin,
                liquidation_price=liq,
            )
            positions.append(position)
            margin_txns[i].reference_id = str(position.id)
            events.append(
                PositionEvent(
                    position=position,
                    kind="open",
                    qty=qty,
                    price=D(100),
                    index_price=D(100),
                    margin=margin,
                    liquidation_price=liq,
                    ledger_txn=margin_txns[i],
                )  # fmt: skip
            )
        Position.objects.bulk_create(positions, batch_size=5000)
        LedgerTransaction.objects.bulk_update(margin_txns, ["reference_id"], batch_size=5000)
        entries = []  # each open's margin lock: free -> locked (what reconcile checks)
        for i, txn in enumerate(margin_txns):
            account = accounts[i % USERS]
            entries += [
                LedgerEntry(txn=txn, account=account, asset="USD", amount=-margin),
                LedgerEntry(txn=txn, account=account, asset="USD", amount=margin, bucket="locked"),
            ]
        LedgerEntry.objects.bulk_create(entries, batch_size=10000)
        PositionEvent.objects.bulk_create(events, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _set_price(price) -> None:
    from datetime import datetime, timezone

    from django.core.cache import cache

    from pricing.selectors import LATEST_PRICE_KEY

    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    record = {"symbol": "SOL-USD", "price": str(price), "sources": ["bench"], "computed_at": now, "mode": "live"}
    cache.set(LATEST_PRICE_KEY, record, timeout=300)


def _gc_timer():
    """Start timing Python's cyclic garbage collector; the returned function stops it and
    answers the seconds spent collecting (a full collection walks every live object)."""
    import gc

    spent, started = [0.0], [0.0]

    def callback(phase: str, _info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)

    def stop() -> float:
        gc.callbacks.remove(callback)
        return spent[0]

    return stop


def child() -> None:
    import gc

    import django

    django.setup()
    from datetime import datetime, timezone
    from decimal import Decimal as D

    from django.conf import settings

    from realtime.models import UserEvent
    from trading.models import Position, PositionStatus
    from trading.services.liquidation import liquidation_run

    started = time.perf_counter()
    _seed()
    # The seeding's model instances are reference cycles: collect them now, or every full
    # collection during the tick walks ~300,000 dead objects (a cost of the bench, not the engine).
    gc.collect()
    print(f"seeded {POSITIONS} open positions for {USERS} users in {time.perf_counter() - started:.1f} s")

    _set_price(D(95))
    quiet = []
    for _ in range(50):
        t0 = time.perf_counter()
        report = liquidation_run(price=D(95), computed_at=datetime.now(timezone.utc))
        quiet.append((time.perf_counter() - t0) * 1000)
        assert report.liquidated == [] and report.skipped is None
    print(
        f"tick that liquidates none (P=95): median {statistics.median(quiet):.2f} ms, "
        f"p95 {sorted(quiet)[int(len(quiet) * 0.95) - 1]:.2f} ms, max {max(quiet):.2f} ms (50 runs)"
    )
    for price in (D(95), D(85)):
        query = Position.objects.filter(status="open", side="long", liquidation_price__gte=price).values("id")
        print(f"EXPLAIN long leg at P={price}:", " | ".join(query.explain().splitlines()[:2]))

    _set_price(D(85))
    events_before = UserEvent.objects.count()
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    gc_time = _gc_timer()
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = liquidation_run(price=D(85), computed_at=datetime.now(timezone.utc))
    cpu = time.process_time() - cpu0
    gc_time = gc_time()
    if profiler is not None:
        profiler.disable()
        profiler.print_stats(sort="cumulative")
    elapsed = time.perf_counter() - t0
    stored = UserEvent.objects.count() - events_before
    left = Position.objects.filter(status=PositionStatus.OPEN).count()
    print(
        f"tick that liquidates 10% (P=85): {len(report.liquidated)} of {report.candidates} candidates in "
        f"{elapsed:.2f} s ({elapsed / max(1, len(report.liquidated)) * 1e6:.0f} us each; batch "
        f"{settings.POSITION_LIQUIDATION_BATCH}); {stored} user events stored and published; {left} still open; "
        f"this process's CPU {cpu:.2f} s ({gc_time * 1000:.0f} ms in Python's garbage collector)"
    )

    from django.core.management import call_command

    call_command("reconcile")  # exits 1 (and fails the bench) on any breach of the books


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
