"""Measuring helpers for the benchmarks: CPU of processes and of the PostgreSQL server (from
/proc), WAL positions, a CPU reference loop, a Celery worker's pool processes, the statements a
call sends, a scratch database for a one-process bench."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cpu_reference() -> float:
    """Seconds of CPU for 10 million Python additions: this machine's speed at this moment (a
    shared 2-core VM varies by 1.5x or more over an hour), to compare runs made at different times."""
    started, total = time.process_time(), 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def cpu_seconds(pids) -> float:
    """User + system CPU of processes (from /proc; 0 for any that is gone)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def postmaster_pid() -> int:
    """The PostgreSQL server's main process (the parent of this connection's backend)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def postgres_cpu(postmaster: int | None = None) -> float:
    """CPU of the whole PostgreSQL server (this bench has it to itself): the postmaster's live
    children plus what its exited children used (``cutime``/``cstime``), so backends that a
    worker closes and reopens during the tick still count. ``postmaster``: its pid, known already
    (then no statement is run: callable from async code)."""
    postmaster = postmaster or postmaster_pid()
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    exited = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return exited + cpu_seconds(int(pid) for pid in children)


def wal_lsn() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def wal_since(lsn: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn])
        return int(cursor.fetchone()[0])


def pool_children(worker: subprocess.Popen, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while True:
        assert worker.poll() is None, "the celery worker exited"
        try:
            pids = [int(p) for p in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        except FileNotFoundError:
            pids = []
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, "the celery worker did not start its pool"
        time.sleep(0.2)


def statements_sent(call) -> list[str]:
    """The statements ``call()`` sends through Django's cursor (what Django sends outside one, such
    as its per-request connection check, is not counted)."""
    from django.db import connection

    sent: list[str] = []

    def count(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        call()
    return sent


@contextmanager
def scratch_database(prefix: str, *, template: str = "", **env: str) -> Iterator[str]:
    """A fresh PostgreSQL database for a one-process bench: this process's Django settings pointed
    at it (``env``: more settings), dropped after. Call ``django.setup()`` and migrate inside.
    ``template``: a copy of that database instead (``CREATE DATABASE ... TEMPLATE``)."""
    import psycopg

    admin = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev", DEBUG="0", DATABASE_URL=f"{admin.rsplit('/', 1)[0]}/{name}",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"), CACHE_KEY_PREFIX=name,
        CHANNEL_LAYER_PREFIX=name, LOG_LEVEL="WARNING", INPROCESS_JOBS="0", **env,
    )  # fmt: skip
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
