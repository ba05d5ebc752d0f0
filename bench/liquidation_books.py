"""The parent side of ``bench_liquidation.py``: its knobs, and per book (1 or 10 markets) a
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

ROOT = Path(__file__).resolve().parent.parent

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
POSITIONS = int(os.environ.get("BENCH_POSITIONS", "100000"))
USERS = int(os.environ.get("BENCH_USERS", str(POSITIONS)))  # net positions: one per user
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "fanout,inline").split(",") if m.strip()]
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
BOOKS = [int(m) for m in os.environ.get("BENCH_MARKETS", "1,10").split(",") if m.strip()]
MARKETS = int(os.environ.get("BENCH_BOOK_MARKETS", "1"))  # in a child: the book it runs on


def database_url(name: str) -> str:
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def child_env(name: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DEBUG="0",
        DATABASE_URL=database_url(name),
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=name,
        CHANNEL_LAYER_PREFIX=name,
        LOG_LEVEL="WARNING",
        INPROCESS_JOBS="0",
        PYTHONPATH=str(ROOT),
        BENCH_DB=name,
    )
    env.update(extra)
    return env


def book_run(markets: int, *, script: str) -> list[str]:
    """Seed a template with the book on ``markets`` markets (``script --seed``), run every repeat and
    mode on copies (``script --<mode>``), and answer the summary lines."""
    import psycopg

    template = f"solpaper_bench_liq_{uuid.uuid4().hex[:8]}"
    copies: list[str] = []
    book = {"BENCH_BOOK_MARKETS": str(markets)}

    def admin(sql: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    admin(f'CREATE DATABASE "{template}"')
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    try:
        env = child_env(template, **book)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, script, "--seed"], cwd=ROOT, env=env, check=True)
        print(
            f"== {markets} market(s): seeded {POSITIONS} open positions for {USERS} users "
            f"in {time.perf_counter() - started:.1f} s"
        )
        for run in range(REPEATS):
            for mode in MODES:
                name = f"{template}_{mode}{run}"
                admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                copies.append(name)
                out = subprocess.run(
                    [sys.executable, script, f"--{mode}", "--quiet" if run == 0 and mode == MODES[0] else "--busy"],
                    cwd=ROOT,
                    env=child_env(name, **book),
                    check=True,
                    stdout=subprocess.PIPE,
                    text=True,
                ).stdout
                for line in out.splitlines():
                    if line.startswith("RESULT "):
                        results[mode].append(json.loads(line[7:]))
                    else:
                        print(line)
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                copies.remove(name)
    finally:
        for name in [*copies, template]:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    label = "" if markets == 1 else f" [{markets} markets: one tick per index, all at once]"
    summaries = []
    for mode, runs in results.items():
        if runs:
            walls = [r["wall"] for r in runs]
            summaries.append(
                f"{mode}: tick that liquidates 10%{label} -- median {statistics.median(walls):.2f} s over "
                f"{len(runs)} runs (min {min(walls):.2f}, max {max(walls):.2f}): "
                + ", ".join(f"{w:.2f}" for w in walls)
            )
    return summaries
