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
STOPS = int(os.environ.get("BENCH_STOPS", "20000"))
POSITIONS = int(os.environ.get("BENCH_POSITIONS", "100000"))  # the liquidation bench's book beside
TPSL = int(
    os.environ.get("BENCH_TPSL", "10000")
)  # of those, with a take-profit and a stop-loss  # waiting stops beside the limits, crossed by no bench tick
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "fanout,inline").split(",") if m.strip()]
BEFORE = os.environ.get("BENCH_BEFORE", "1") == "1"  # the one-order path, once per book
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
BOOKS = [int(m) for m in os.environ.get("BENCH_MARKETS", "1").split(",") if m.strip()]
MARKETS = int(os.environ.get("BENCH_BOOK_MARKETS", "1"))  # in a child: the book it runs on
BEFORE_REF = os.environ.get("BENCH_BEFORE_REF", "")  # a git ref: every measurement also on its code
CANCEL_CLIENTS = int(os.environ.get("BENCH_CANCEL_CLIENTS", "8"))
CANCELS = int(os.environ.get("BENCH_CANCELS", "800"))


def tree_checkout(ref: str) -> Path:
    """``ref`` checked out (detached) under var/, for the "before" runs (``tree_remove`` after)."""
    path = ROOT / "var" / "bench_triggers_before"
    tree_remove(path)
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(path), ref], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return path


def tree_remove(path: Path) -> None:
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def book_run(markets: int, *, script: str) -> list[str]:
    """Seed a template with the book on ``markets`` markets (``script --seed``); on one copy the
    quiet ticks, the EXPLAINs and the cancels (``--quiet``); then, on a copy each, the one-order
    path once (``--before``) and every repeat of every mode -- with ``BENCH_BEFORE_REF``, each also
    on that ref's code (``BENCH_APP_ROOT``: the bench's measuring code stays this tree's), just
    before this code's. Answers the summary lines."""
    import psycopg

    template = f"solpaper_bench_trig_{uuid.uuid4().hex[:8]}"
    copies: list[str] = []
    book = {"BENCH_BOOK_MARKETS": str(markets)}
    before = tree_checkout(BEFORE_REF) if BEFORE_REF else None

    def admin(sql: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    def child(name: str, mode: str, app: Path | None = None) -> list[dict]:
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        copies.append(name)
        extra = {**book, **({"BENCH_BEFORE_TREE": str(before)} if before else {})}
        if app is not None:
            extra.update(BENCH_APP_ROOT=str(app), BENCH_LABEL=f"{mode}@{BEFORE_REF}", PYTHONPATH=str(app))
        out = subprocess.run(
            [sys.executable, script, f"--{mode}"], cwd=app or ROOT, env=child_env(name, **extra), check=True,
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
            f"{USERS} users, beside {POSITIONS} open SOL-PERP positions ({TPSL} with TP/SL) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        child(f"{template}_quiet", "quiet")
        plan: list[tuple[str, int, Path | None]] = [("before", 0, None)] if BEFORE else []
        for run in range(REPEATS):
            for mode in MODES:
                plan += ([(mode, run, before)] if before else []) + [(mode, run, None)]
        for mode, run, app in plan:
            label = mode if app is None else f"{mode}@{BEFORE_REF}"
            suffix = "b" if app is not None else ""
            results.setdefault(label, []).extend(child(f"{template}_{mode}{run}{suffix}", mode, app))
    finally:
        for name in [*copies, template]:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if before is not None:
            tree_remove(before)
    label = "" if markets == 1 else f" [{markets} markets: one tick per index, all at once]"
    summaries = []
    for mode, runs in results.items():
        walls = [r["wall"] for r in runs]
        summaries.append(
            f"{mode}: tick that fills 10%{label} -- median {statistics.median(walls):.2f} s over {len(runs)} runs "
            f"(min {min(walls):.2f}, max {max(walls):.2f}): "
            + ", ".join(f"{w:.2f}" for w in walls)
            + " (load "
            + ", ".join(f"{r.get('load', 0):.1f}" for r in runs)
            + ")"
        )
    return summaries
