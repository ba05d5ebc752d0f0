"""A live daphne for the Alpaca-compatibility tests: the real alpaca-py client talks HTTP and
WebSocket to it, on the pytest-django test database and the test Redis (tests use
``transaction=True`` so the server sees their rows). Prices are put in Redis by the test, the way
the pricing selector reads them (``tests.trading.helpers.set_price``)."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest
from django.conf import settings

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def alpaca_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne serving config.asgi (HTTP ``/v2`` and the ``/stream`` socket); yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=_database_url(), REDIS_URL=settings.REDIS_URL
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
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
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
