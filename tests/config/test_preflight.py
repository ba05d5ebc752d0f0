"""Fail-fast: an unreachable configured backend stops startup with one clear line."""

import subprocess

from tests.conftest import PYTHON, ROOT, closed_port, subprocess_env

PG_OK = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_OK = "redis://127.0.0.1:6379/15"


def _run(args, **env):
    # The timeout only guards against a hang; it is not a performance assertion.
    return subprocess.run(
        [PYTHON, *args],
        cwd=ROOT,
        env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.dev", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_preflight_passes_on_the_real_stack():
    result = _run(["manage.py", "preflight"], DATABASE_URL=PG_OK, REDIS_URL=REDIS_OK)
    assert result.returncode == 0, result.stderr
    assert "preflight ok: real stack" in result.stdout


def test_unreachable_postgres_exits_nonzero_with_one_line_naming_the_database():
    port = closed_port()
    result = _run(
        ["manage.py", "preflight"], DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/exchange", REDIS_URL=REDIS_OK
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"startup failed: PostgreSQL at 127.0.0.1:{port}/exchange is unreachable")


def test_unreachable_redis_exits_nonzero_with_one_line_naming_redis():
    port = closed_port()
    result = _run(["manage.py", "preflight"], DATABASE_URL=PG_OK, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"startup failed: Redis at 127.0.0.1:{port}/0 is unreachable")


def test_supervisor_starts_nothing_when_the_database_is_down():
    port = closed_port()
    result = _run(
        ["-m", "config.supervisor"], DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/x", REDIS_URL=REDIS_OK
    )
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr
    assert "supervisor: started" not in result.stdout


def test_asgi_application_refuses_to_load_when_redis_is_down():
    port = closed_port()
    result = _run(["-c", "import config.asgi"], DATABASE_URL=PG_OK, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("startup failed: Redis")
