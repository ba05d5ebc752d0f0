"""Where an in-process tick's time goes (``bench_triggers.py`` inline with BENCH_PROFILE=1): the
statements' wall time by kind (time from sending each statement to its answer: PostgreSQL's work
plus the round trip, measured with a ``connection.execute_wrapper``), the garbage collector's
pauses, and the Python functions
with the most time of their own, this project's functions and the commits by time spent in them
and what they call (cProfile; it slows Python by ~1.5-2x, so the wall of a profiled
run is not the bench's figure). BENCH_PROFILE_TOP: how many functions (30)."""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

PROFILE = os.environ.get("BENCH_PROFILE", "0") == "1"
TOP = int(os.environ.get("BENCH_PROFILE_TOP", "30"))


def _kind(sql: str) -> str:
    """A statement's kind: its verb and first table (``UPDATE trading_order``)."""
    words = re.sub(r"\s+", " ", sql.strip()).split(" ")
    verb = words[0].upper()
    if verb == "WITH":
        verb = "WITH ... " + next((w.upper() for w in words if w.upper() in ("INSERT", "UPDATE", "SELECT")), "")
    table = next((w.strip('"(') for w in words if w.strip('"(').count("_") and not w.startswith("%")), "")
    return f"{verb} {table}".strip()


@contextmanager
def profiled() -> Iterator[None]:
    """Profile the block when BENCH_PROFILE=1 (else do nothing); print the report after it."""
    if not PROFILE:
        yield
        return
    from django.db import connection

    walls: dict[str, list[float]] = defaultdict(list)

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            walls[_kind(sql)].append(time.perf_counter() - started)

    collections: dict[int, list[float]] = defaultdict(list)
    pending: list[float] = []

    def collected(phase: str, info: dict) -> None:  # the cyclic garbage collector's pauses
        if phase == "start":
            pending.append(time.perf_counter())
        elif pending:
            collections[info["generation"]].append(time.perf_counter() - pending.pop())

    profile = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    gc.callbacks.append(collected)
    with connection.execute_wrapper(timed):
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            gc.callbacks.remove(collected)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    in_sql = sum(sum(v) for v in walls.values())
    print(f"PROFILE (profiled run: wall {wall:.2f} s, this process's CPU {cpu:.2f} s, in statements {in_sql:.2f} s)")
    for kind, values in sorted(walls.items(), key=lambda item: -sum(item[1])):
        print(f"    {sum(values) * 1000:9.1f} ms  {len(values):6d} x  {kind}")
    for generation, pauses in sorted(collections.items()):
        print(f"    {sum(pauses) * 1000:9.1f} ms  {len(pauses):6d} x  garbage collection, generation {generation}")
    for order, restriction in (("tottime", ()), ("cumulative", (_PROJECT,)), ("cumulative", ("commit",))):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(*restriction, TOP)
        lines = [line for line in out.getvalue().splitlines() if line.strip() and "function calls" not in line]
        print("\n".join("    " + line for line in lines))


_PROJECT = r"^(?!.*site-packages).*/(trading|portfolio|realtime|core|pricing)/"  # this project's code
