"""Shared fixtures. Tests run on the real PostgreSQL and Redis (see Makefile `test`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.money_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (the test Redis database is flushed)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _market_registry(request):
    """The seeded market registry is there for every database test: a transactional test's flush
    removes the migration's rows, so a test that finds none seeds them again (the migration's own
    ``seed_markets``). Each test starts with this process's registry cache empty."""
    from pricing.markets import registry_clear

    registry_clear()
    marker = request.node.get_closest_marker("django_db")
    if marker is not None or "transactional_db" in request.fixturenames or "db" in request.fixturenames:
        request.getfixturevalue("_django_db_helper")
        from pricing.models import Market, Token
        from pricing.seed_data import seed_markets

        if not Market.objects.exists():
            seed_markets(Token, Market)
    yield
    registry_clear()


@pytest.fixture
def tasks_sent():
    """The name of every Celery task sent while the test runs: published to a broker
    (``before_task_publish``) or run inline when eager (``task_prerun``)."""
    from celery.signals import before_task_publish, task_prerun

    names: list[str] = []

    def published(sender=None, **_kwargs) -> None:
        names.append(str(sender))

    def ran(sender=None, **_kwargs) -> None:
        names.append(sender.name)

    before_task_publish.connect(published, weak=False)
    task_prerun.connect(ran, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(published)
        task_prerun.disconnect(ran)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A local port nobody listens on (bound then released)."""
    return free_port()


def subprocess_env(**overrides: str | None) -> dict[str, str]:
    """The current environment with overrides; ``None`` removes a variable."""
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


PYTHON = sys.executable


def sqlite_script_run(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``script`` (``python -c``) in the embedded mode on a fresh, migrated SQLite database
    under ``tmp_path`` (``config.settings.dev``, DEBUG off, no Redis; ``env`` on top). Asserts the
    migration and the script exited 0; returns the script's run."""
    env_vars = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=None, DEBUG="0", LOG_LEVEL="WARNING", **env,
    )  # fmt: skip
    migrate = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env_vars, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    run = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=env_vars, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker):
    """Threads used by async tests (database_sync_to_async) keep connections open; end
    them before pytest-django drops the test database, so teardown is clean."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
