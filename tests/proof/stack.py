"""Processes for fault tests: the web tier against the test database, private Redis, a row-lock pause.

Never touches the shared PostgreSQL/Redis servers' lifecycle: only processes started here are
stopped or killed, by their own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import httpx
import psycopg
from django.conf import settings

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def psycopg_dsn() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


class Daphne:
    """One daphne process serving the platform (config.settings.dev, DEBUG off)."""

    def __init__(self, *, redis_url: str | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = subprocess_env(
            DJANGO_SETTINGS_MODULE="config.settings.dev",
            DEBUG="0",
            DATABASE_URL=test_database_url(),
            REDIS_URL=redis_url or settings.REDIS_URL,
            CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
            CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            INPROCESS_JOBS="0",
            POSITION_ENGINE_ASYNC="0",
            LOG_LEVEL="ERROR",
            WS_HEARTBEAT_SECONDS="3600",
            **env,
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Daphne:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self._ready(timeout)

    def _ready(self, timeout: float):
        """Drain stderr, wait until ``/healthz`` answers on ``url``."""
        assert self.proc is not None
        # Always drain stderr: a server that logs under a long run would otherwise block on a
        # full pipe (64 KiB) and look like a hang (seen in the 3-minute bank test).
        self.stderr_tail = drain_stderr(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "".join(self.stderr_tail)[-3000:]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


class WebTier(Daphne):
    """The platform's web tier as ``make run`` serves it in the real stack: ``python -m
    config.supervisor --web`` -- nginx on one address (``url``, ``port``) in front of gunicorn
    (HTTP) and daphne (``/ws/``). ``kill9`` kills every process of it at once (a host that dies);
    ``stop`` is an operator's SIGTERM."""

    def start(self, timeout: float = 60) -> WebTier:
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "config.supervisor", "--web"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        return self._ready(timeout)

    def processes(self) -> list[int]:
        """Every process under the supervisor (its children run in process groups of their own)."""
        assert self.proc is not None
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
        found, todo = [], [self.proc.pid]
        while todo:
            parent = todo.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            found += children
            todo += children
        return found

    def kill9(self) -> None:
        assert self.proc is not None
        for pid in [self.proc.pid, *self.processes()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the supervisor stops its children (and removes its run directory)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


@contextmanager
def web_tier(**kwargs):
    server = WebTier(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


class PrivateRedis:
    """A redis-server of our own on a free port (no persistence), stoppable and restartable."""

    def __init__(self) -> None:
        assert shutil.which("redis-server"), "redis-server is not installed"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except redis.RedisError:
                assert time.monotonic() < deadline, "private redis did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def cache_for(redis_url: str):
    """A Django Redis cache on ``redis_url`` with the platform's key prefix (what daphne reads)."""
    from django.core.cache.backends.redis import RedisCache

    return RedisCache(redis_url, {"KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"]})


class RowLockPause:
    """Hold ``FOR UPDATE`` locks on the system ``fees`` balance rows from a separate connection:
    a fill blocks inside its transaction (after inserting the order, in ``ledger_post``)."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(psycopg_dsn(), autocommit=False)

    def hold(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT b.id FROM portfolio_balance b JOIN portfolio_ledgeraccount a ON a.id = b.account_id "
                "WHERE a.code = 'fees' FOR UPDATE"
            )
            assert cur.fetchall(), "no fees rows to lock"

    def waiting_pids(self) -> list[int]:
        with psycopg.connect(psycopg_dsn(), autocommit=True) as other, other.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                (self.conn.info.backend_pid,),
            )
            return [row[0] for row in cur.fetchall()]

    def wait_for_blocked(self, timeout: float = 20) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.waiting_pids()
            if pids:
                return pids
            assert time.monotonic() < deadline, "no request blocked on the paused rows"
            time.sleep(0.05)

    def release(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


PG_BIN = "/usr/lib/postgresql/15/bin"


class PrivatePostgres:
    """A PostgreSQL 15 cluster of our own (``initdb`` + ``pg_ctl`` on a free port, data and socket in
    a temp dir owned by the ``postgres`` OS user, trust auth on 127.0.0.1, no fsync): stoppable and
    restartable without touching the shared server on 5432. initdb refuses to run as root, so the
    binaries run as ``postgres`` (``runuser``) when we are root."""

    def __init__(self, *, dbname: str = "solpaper") -> None:
        import tempfile

        assert os.path.exists(f"{PG_BIN}/initdb"), f"{PG_BIN}/initdb is not installed"
        self.port = free_port()
        self.dbname = dbname
        self.dir = tempfile.mkdtemp(prefix="proof-pg-")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=3"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout[-2000:]} {result.stderr[-2000:]}"

    def init(self) -> PrivatePostgres:
        self._run(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()
        with psycopg.connect(self.dsn.replace(f"dbname={self.dbname}", "dbname=postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        return self

    def start(self) -> None:
        # fsync off: only an OS crash loses data with it, and nothing here crashes the OS. Commits
        # stay synchronous: with synchronous_commit=off, `pg_ctl stop -m immediate` loses the last
        # acknowledged orders (the outage test catches exactly that).
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=32MB -c max_connections=100"
        )
        log = os.path.join(self.dir, "log")
        self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", log, "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", mode, "stop")

    def running(self) -> bool:
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def manage(self, *args: str, redis_url: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """``manage.py <args>`` against this cluster (config.settings.dev, no preflight)."""
        env = subprocess_env(
            DJANGO_SETTINGS_MODULE="config.settings.dev",
            DATABASE_URL=self.url,
            REDIS_URL=redis_url or settings.REDIS_URL,
            PREFLIGHT_ON_START="0",
            LOG_LEVEL="ERROR",
        )
        return subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    def destroy(self) -> None:
        """Stop the cluster (immediate) if it runs, and remove its directory."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ``celery -A config worker --pool prefork``: no cluster chatter; concurrency and log level per worker.
WORKER_ARGS = [
    *"worker --pool prefork".split(),
    *"--without-gossip --without-mingle --without-heartbeat".split(),
]


class CeleryWorker:
    """``celery -A config worker --concurrency N`` (prefork; default one child) on the test database and
    the broker ``redis_url``; tasks really go through the broker (not eager).

    ``transport_options`` go to the Redis transport: ``visibility_timeout`` is how old a message a
    dead worker took but never acknowledged (``acks_late``) must be before it is redelivered
    (default one hour); a worker scans for such messages when it starts and then every
    ``unacked_restore_interval`` x ``unacked_restore_throttle`` seconds (default 100)."""

    def __init__(
        self,
        *,
        redis_url: str,
        transport_options: dict | None = None,
        concurrency: int = 1,
        loglevel: str = "WARNING",
        **env: str,
    ) -> None:
        self.redis_url = redis_url
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.env = subprocess_env(
            DJANGO_SETTINGS_MODULE="config.settings.dev",
            DEBUG="0",
            DATABASE_URL=test_database_url(),
            REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
            CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            INPROCESS_JOBS="0",
            LOG_LEVEL="WARNING",
            **env,
        )
        self.transport_options = transport_options
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self, timeout: float = 60) -> CeleryWorker:
        import tempfile

        code = (
            "import sys; from config.celery import app; "
            + (f"app.conf.broker_transport_options = {self.transport_options!r}; " if self.transport_options else "")
            + "app.worker_main(sys.argv[1:])"
        )
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-c",
                code,
                *WORKER_ARGS,
                *("--concurrency", str(self.concurrency), "-l", self.loglevel),
                *("-n", f"proof-{free_port()}@%h"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while len(self.children()) < self.concurrency:
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "celery worker did not start: " + self.output()
            time.sleep(0.2)
        return self

    def children(self) -> list[int]:
        """The pool's child process ids (where tasks run)."""
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as handle:
                return [int(pid) for pid in handle.read().split()]
        except FileNotFoundError:
            return []

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def kill9(self) -> None:
        """SIGKILL the whole worker (its process group: main process and pool child)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        if self.log is not None:
            self.log.close()
            self.log = None


class SystemRowsPause(RowLockPause):
    """``FOR UPDATE`` on the ``house`` and ``insurance`` USD balance rows (every shard, which must
    exist): a liquidation blocks inside its transaction after its position ``UPDATE`` (the
    transition, uncommitted), at the ledger posting's row locks."""

    def hold(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT b.id FROM portfolio_balance b JOIN portfolio_ledgeraccount a ON a.id = b.account_id "
                "WHERE a.code IN ('house', 'insurance') AND b.asset = 'USD' FOR UPDATE"
            )
            assert cur.fetchall(), "no house/insurance rows to lock"


def drain_stderr(proc: subprocess.Popen, keep: int = 200):
    """Read a child's piped stderr in a thread (keeping the last ``keep`` lines): a process that
    logs a line per 5xx would otherwise block on a full pipe during a long outage."""
    import collections
    import threading

    tail: collections.deque[str] = collections.deque(maxlen=keep)

    def pump() -> None:
        for line in iter(proc.stderr.readline, b""):
            tail.append(line.decode(errors="replace"))

    threading.Thread(target=pump, daemon=True, name=f"stderr-{proc.pid}").start()
    return tail


def fresh_price_record(price: str = "150", computed_at: datetime | None = None) -> dict:
    """A latest-price record (computed now, or at a given tick's time)."""
    return {
        "symbol": "SOL-USD",
        "price": price,
        "bid": None,
        "ask": None,
        "sources": ["pyth", "coinbase"],
        "computed_at": (computed_at or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z"),
        "mode": "live",
    }
