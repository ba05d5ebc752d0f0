"""A real daphne serving ``config.asgi`` on the pytest-django test database and the test Redis, for
tests that drive the platform over HTTP and WebSocket from outside (the browser tests, alpaca-py).
Tests use ``transaction=True`` so the server sees their rows."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env


def live_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def live_daphne(log: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """Start daphne (``env``: extra settings), wait for ``/healthz``, yield ``(base URL, log)``;
    stop it after."""
    port = free_port()
    # The server reads the market registry afresh at every use (no per-process cache): between two
    # tests the flush empties the tables and the next test seeds them again, and a registry the
    # server cached in between (no markets, or the last test's halted one) would outlive the seed
    # by up to MARKET_REGISTRY_TTL_SECONDS; its pages then found no market and its sockets' price
    # subscriptions an unknown symbol.
    full_env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=live_database_url(),
        REDIS_URL=settings.REDIS_URL, **{"MARKET_REGISTRY_TTL_SECONDS": "0", **env},
    )  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"daphne did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
