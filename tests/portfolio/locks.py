"""Forcing an interleaving on the real PostgreSQL: a separate connection holds row locks, and
worker threads report their backend pid so the test can wait until PostgreSQL shows them
blocked on a lock (``pg_stat_activity.wait_event_type = 'Lock'``). No code hook, no sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import connection

TIMEOUT = 20  # seconds: a guard against a hung test, not a timing assertion


def psycopg_dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


class RowHold:
    """``SELECT ... FOR UPDATE`` from a connection of its own, held until ``release``."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(psycopg_dsn(), autocommit=False)

    def hold(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        assert rows, f"nothing to hold: {sql}"
        return rows

    def try_lock(self, sql: str, params: tuple = ()) -> bool:
        """``sql`` (a ``FOR UPDATE NOWAIT``) succeeds now? Rolled back either way."""
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
            return True
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            self.conn.rollback()

    def release(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def wait_until_blocked(*pids: int, timeout: float = TIMEOUT) -> None:
    """Return once every backend in ``pids`` waits on a lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(psycopg_dsn(), autocommit=True) as probe:
        while True:
            rows = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
                (list(pids),),
            ).fetchone()
            if rows and rows[0] == len(pids):
                return
            assert time.monotonic() < deadline, f"backends {pids} never blocked on a lock"
            time.sleep(0.01)


class Worker(threading.Thread):
    """Runs ``fn`` on its own database connection; ``pid`` is its backend, ``error`` what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.pid: int | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        try:
            connection.ensure_connection()
            self.pid = connection.connection.info.backend_pid
            self._ready.set()
            self.result = self.fn()
        except BaseException as exc:  # reported to the test thread
            self.error = exc
        finally:
            self._ready.set()
            connection.close()

    def begin(self) -> Worker:
        self.start()
        assert self._ready.wait(TIMEOUT), "worker never connected"
        assert self.pid is not None, f"worker failed to connect: {self.error!r}"
        return self

    def finish(self) -> Any:
        self.join(TIMEOUT)
        assert not self.is_alive(), "worker still running"
        return self.result
