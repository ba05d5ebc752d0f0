"""The parent side of ``bench_triggers.py``: its knobs, and per book (1 or more spot markets) a
template database seeded once, a fresh copy (``CREATE DATABASE ... TEMPLATE``) per run and mode,
the child runs' results gathered and the copies dropped."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from liquidation_books import PG_ADMIN, child_env

ROOT = Path(__file__).resolve().parent.parent

ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))
USERS = int(os.environ.get("BENCH_USERS", "10000"))
STOPS = int(os.environ.get("BENCH_STOPS", "20000"))  # waiting stops beside the limits, crossed by no bench tick
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "fanout,inline").split(",") if m.strip()]
BEFORE = os.environ.get("BENCH_BEFORE", "1") == "1"  # the one-order path, once per book
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
BOOKS = [int(m) for m in os.environ.get("BENCH_MARKETS", "1").split(",") if m.strip()]
MARKETS = int(os.environ.get("BENCH_BOOK_MARKETS", "1"))  # in a child: the book it runs on
CANCEL_CLIENTS = int(os.environ.get("BENCH_CANCEL_CLIENTS", "8"))
CANCELS = int(os.environ.get("BENCH_CANCELS", "800"))


def book_run(markets: int, *, script: str) -> list[str]:
    """Seed a template with the book on ``markets`` markets (``script --seed``); on one copy the
    quiet ticks, the EXPLAINs and the cancels (``--quiet``); then, on a copy each, the one-order
    path once (``--before``) and every repeat of every mode. Answers the summary lines."""
    import psycopg

    template = f"solpaper_bench_trig_{uuid.uuid4().hex[:8]}"
    copies: list[str] = []
    book = {"BENCH_BOOK_MARKETS": str(markets)}

    def admin(sql: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    def child(name: str, mode: str) -> list[dict]:
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        copies.append(name)
        out = subprocess.run(
            [sys.executable, script, f"--{mode}"], cwd=ROOT, env=child_env(name, **book), check=True,
            stdout=subprocess.PIPE, text=True,
        ).stdout  # fmt: skip
        results = []
        for line in out.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line[7:]))
            else:
                print(line)
        sys.stdout.flush()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copies.remove(name)
        return results

    admin(f'CREATE DATABASE "{template}"')
    results: dict[str, list[dict]] = {}
    try:
        env = child_env(template, **book)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, script, "--seed"], cwd=ROOT, env=env, check=True)
        print(
            f"== {markets} spot market(s): seeded {ORDERS} resting limit orders and {STOPS} waiting stops of "
            f"{USERS} users "
            f"in {time.perf_counter() - started:.1f} s"
        )
        child(f"{template}_quiet", "quiet")
        plan = [("before", 0)] if BEFORE else []
        plan += [(mode, run) for run in range(REPEATS) for mode in MODES]
        for mode, run in plan:
            results.setdefault(mode, []).extend(child(f"{template}_{mode}{run}", mode))
    finally:
        for name in [*copies, template]:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    label = "" if markets == 1 else f" [{markets} markets: one tick per index, all at once]"
    summaries = []
    for mode, runs in results.items():
        walls = [r["wall"] for r in runs]
        summaries.append(
            f"{mode}: tick that fills 10%{label} -- median {statistics.median(walls):.2f} s over {len(runs)} runs "
            f"(min {min(walls):.2f}, max {max(walls):.2f}): " + ", ".join(f"{w:.2f}" for w in walls)
        )
    return summaries
