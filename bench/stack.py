"""Bring up the real stack for a benchmark: a fresh PostgreSQL database, migrated,
and N daphne processes (the production ASGI server) on the local Redis.

    with RealStack(processes=1) as stack:
        stack.urls  # ["http://127.0.0.1:PORT", ...]

Defaults: PostgreSQL on 127.0.0.1:5432 as postgres, Redis DB 9; override with
BENCH_PG_ADMIN_URL / BENCH_REDIS_URL. The database is dropped afterwards.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RealStack:
    def __init__(self, processes: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.processes = processes
        self.name = f"solpaper_bench_{uuid.uuid4().hex[:8]}"
        self.prefix = self.name
        self.extra_env = extra_env or {}
        self.procs: list[subprocess.Popen] = []
        self.urls: list[str] = []

    @property
    def database_url(self) -> str:
        base = PG_ADMIN.rsplit("/", 1)[0]
        return f"{base}/{self.name}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.dev",
            DEBUG="0",
            DATABASE_URL=self.database_url,
            REDIS_URL=REDIS_URL,
            CACHE_KEY_PREFIX=self.prefix,
            CHANNEL_LAYER_PREFIX=self.prefix,
            LOG_LEVEL="WARNING",
            INPROCESS_JOBS="0",
        )
        env.update(self.extra_env)
        return env

    def __enter__(self) -> RealStack:
        import psycopg

        raise_fd_limit()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env(), check=True
        )
        for _ in range(self.processes):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                cwd=ROOT,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=raise_fd_limit,
            )
            self.procs.append(proc)
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(self.urls, self.procs, strict=True):
            self._wait(url, proc)
        return self

    def _wait(self, url: str, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"daphne at {url} did not come up")

    def __exit__(self, *exc) -> None:
        import psycopg

        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
