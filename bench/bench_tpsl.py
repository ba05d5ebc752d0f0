"""The TP/SL engine on the trigger bench's book: a tick that fires ~1,000 take-profits and
stop-losses, closed by the set-based batch (``trading.services.tpsl_batch``, "after") and, in the
same run, by the trader's close command one position per transaction (the path the batch
replaced, "before").

    .venv/bin/python bench/bench_tpsl.py
    BENCH_TEMPLATE=bench_tpl BENCH_TPSL_PRICES=105.5,110 .venv/bin/python bench/bench_tpsl.py

The book is ``bench_triggers.py``'s (``trigger_seed``: 100,000 open SOL-PERP positions, 10,000 of
them with TP/SL -- long TPs at 105..129.9, short SLs at 108..132.9 --, 100,000 resting limit
orders over 10,000 users). BENCH_TEMPLATE names a database already seeded with it (it is only
ever copied, never opened); without one a template is seeded here (``bench_triggers.py --seed``,
a few minutes) and dropped at the end. Every measurement runs in a child process on its own fresh
copy (``CREATE DATABASE ... TEMPLATE``), dropped after: for each price of BENCH_TPSL_PRICES (110
fires ~1,000; 107.5 ~500; 105.5 ~120) and each repeat, "before" then "after" (BENCH_MODES).
Timed: the engine for one tick of SOL-USD, from the probe to its return (everything committed,
events published): wall, this process's CPU, the PostgreSQL server's CPU, and the statements sent
(and each batch's, for "after"). The children run with PRICE_STALE_SECONDS=600: the tick stays
fresh for the whole run, so the one-by-one path (~40 s for 1,000) is not cut short by the close
command's age check. Then ``manage.py reconcile`` on the copy (any breach fails the bench).
Every figure carries the load average (1 min).

Knobs: BENCH_TEMPLATE, BENCH_TPSL_PRICES ("110"), BENCH_REPEATS (1), BENCH_MODES
("before,after"), BENCH_RECONCILE (1), BENCH_COPY_PREFIX, POSITION_TPSL_BATCH, BENCH_PG_ADMIN_URL,
BENCH_REDIS_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from liquidation_books import PG_ADMIN, child_env  # noqa: E402
from measure import cpu_reference  # noqa: E402

TEMPLATE = os.environ.get("BENCH_TEMPLATE", "")
PRICES = [p.strip() for p in os.environ.get("BENCH_TPSL_PRICES", "110").split(",") if p.strip()]
REPEATS = int(os.environ.get("BENCH_REPEATS", "1"))
MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "before,after").split(",") if m.strip()]
RECONCILE = os.environ.get("BENCH_RECONCILE", "1") == "1"
COPY_PREFIX = os.environ.get("BENCH_COPY_PREFIX", "solpaper_bench_tpsl")
INDEX = "SOL-USD"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _template() -> tuple[str, bool]:
    """The template to copy, and whether it was seeded here (and is to be dropped)."""
    if TEMPLATE:
        return TEMPLATE, False
    name = f"solpaper_bench_tpsl_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    env = child_env(name, BENCH_BOOK_MARKETS="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench_triggers.py"), "--seed"], cwd=ROOT, env=env, check=True)
    return name, True


def _child(template: str, mode: str, price: str, run: int) -> dict:
    name = f"{COPY_PREFIX}_{os.getpid()}_{mode}{run}_{price.replace('.', '_')}"[:63]
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        env = child_env(name, BENCH_BOOK_MARKETS="1", BENCH_TPSL_PRICE=price, PRICE_STALE_SECONDS="600")
        out = subprocess.run(
            [sys.executable, __file__, f"--{mode}"], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
        ).stdout
        result = next(json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT "))
        if RECONCILE:
            subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        return result
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    reference = cpu_reference()
    template, seeded = _template()
    rows = []
    try:
        for price in PRICES:
            for run in range(REPEATS):
                for mode in MODES:
                    result = _child(template, mode, price, run)
                    rows.append(result)
                    print(_line(result), flush=True)
    finally:
        if seeded:
            _admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    print(f"CPU reference (10M Python additions): {reference:.2f} s before the runs, {cpu_reference():.2f} s after")
    print("per 1,000 closes (same run):")
    for row in rows:
        per = 1000 / max(1, row["closed"])
        print(f"  P={row['price']} {row['mode']:6}: wall {row['wall'] * per:6.2f} s, python CPU "
              f"{row['cpu'] * per:6.2f} s, PostgreSQL CPU {row['pg_cpu'] * per:6.2f} s")  # fmt: skip


def _line(r: dict) -> str:
    batches = (
        f", {len(r['per_batch'])} batch(es) of <= {r['batch']}: statements {r['per_batch']}" if r["per_batch"] else ""
    )
    return (
        f"P={r['price']} {r['mode']:6}: {r['candidates']} candidates, {r['closed']} closed, gate {r['gate']}: "
        f"wall {r['wall']:.2f} s, python CPU {r['cpu']:.2f} s, PostgreSQL CPU {r['pg_cpu']:.2f} s, "
        f"{r['statements']} statements{batches}; load {r['load']:.1f}"
    )


# --- the child (inside django.setup(), on its copy) -------------------------------------------


def _run(mode: str) -> None:
    import django

    django.setup()
    from datetime import datetime, timezone
    from decimal import Decimal

    from bench_price import bench_price_set
    from django.conf import settings
    from django.db import connection
    from measure import postgres_cpu, postmaster_pid

    from pricing.selectors import price_get_latest
    from trading.services import tpsl_batch
    from trading.services.position_triggers import position_triggers_run

    price = Decimal(os.environ["BENCH_TPSL_PRICE"])
    bench_price_set(price, [INDEX])
    quote = price_get_latest(symbol=INDEX)
    statements: list[int] = [0]
    per_batch: list[int] = []  # statements of each batch, from its first read to its commit

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    batch = tpsl_batch.tpsl_close_batch

    def counted_batch(**kwargs):
        before = statements[0]
        try:
            return batch(**kwargs)
        finally:
            per_batch.append(statements[0] - before)

    postmaster = postmaster_pid()
    if mode == "after":
        from trading.services import position_triggers

        position_triggers.tpsl_close_batch = counted_batch  # counts the batches, changes nothing
    engine = position_triggers_run if mode == "after" else _one_by_one
    pg0, c0, t0 = postgres_cpu(postmaster), time.process_time(), time.perf_counter()
    with connection.execute_wrapper(count):
        report = engine(index_symbol=INDEX, price=price, computed_at=quote.computed_at)
    wall, cpu, pg = time.perf_counter() - t0, time.process_time() - c0, postgres_cpu(postmaster)
    closed = len(report.closed)
    result = {
        "mode": mode, "price": str(price), "candidates": report.candidates, "closed": closed,
        "gate": report.gate, "wall": wall, "cpu": cpu, "pg_cpu": pg - pg0, "statements": statements[0],
        "per_batch": per_batch, "batch": settings.POSITION_TPSL_BATCH, "load": os.getloadavg()[0],
        "at": datetime.now(timezone.utc).isoformat(),
    }  # fmt: skip
    print("RESULT " + json.dumps(result))


def _one_by_one(*, index_symbol: str, price, computed_at):
    """ "before": the engine as it was, each candidate closed by the trader's close command with
    the trigger, one position per transaction (``position_triggers._close``)."""
    from accounts.models import User
    from trading.perp_markets import perp_markets_by_index
    from trading.position_ends_pg import tpsl_ends
    from trading.services.liquidation import price_gate
    from trading.services.position_triggers import PositionTriggerReport, _close, tick_quote, tpsl_candidates

    report = PositionTriggerReport(price=price, index_symbol=index_symbol)
    symbols = tuple(perp_markets_by_index().get(index_symbol, ()))
    if not symbols or not tpsl_ends(symbols=symbols).crossed_by(price):
        return report
    rows = tpsl_candidates(price=price, symbols=symbols, before=computed_at)
    report.candidates = len(rows)
    report.gate = price_gate(price=price, computed_at=computed_at, index_symbol=index_symbol)
    if report.gate or not rows:
        return report
    quote = tick_quote(index_symbol, price=price, computed_at=computed_at)
    users = User.objects.in_bulk({user_id for _id, user_id, _kind in rows})
    for position_id, user_id, kind in rows:
        if _close(users[user_id], position_id, kind=kind, quote=quote):
            report.closed.append((str(position_id), kind))
        else:
            report.skipped += 1
    return report


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _run(sys.argv[1].lstrip("-"))
    else:
        main()
