"""What `make run` starts serves /readyz in both modes, and Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env

pytestmark = pytest.mark.slow


def _readyz(port: int) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _wait_ready(port: int, proc: subprocess.Popen, want_beat: bool, limit: float = 60) -> tuple[int, dict]:
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        last = _readyz(port)
        if last and (not want_beat or last[1]["checks"]["beat"]["ok"]):
            return last
        time.sleep(0.3)
    raise AssertionError(f"no usable /readyz answer: {last}")


def _stop_and_check(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "supervisor: stopped" in out
    pids = [int(p) for p in re.findall(r"pid (\d+)", out)]
    assert pids
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    return out


def _migrate(env: dict) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr


def test_embedded_mode_serves_readyz_with_inprocess_jobs(tmp_path):
    port = free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=None,
        PORT=str(port),
        BEAT_HEARTBEAT_SECONDS="1",
    )
    _migrate(env)
    proc = subprocess.Popen(
        [PYTHON, "-m", "config.supervisor"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, body = _wait_ready(port, proc, want_beat=True)
        assert body["mode"] == "embedded"
        assert body["checks"]["database"] == {"ok": True, "engine": "sqlite3"}
        assert body["checks"]["redis"] == {"ok": True, "configured": False}
        assert body["checks"]["beat"]["runner"] == "in-process"
        assert status == (200 if body["checks"]["price"]["ok"] else 503)
    finally:
        out = _stop_and_check(proc)
    assert "worker" not in out.split("supervisor: started")[1].splitlines()[0]


def test_real_stack_serves_readyz_with_celery_worker_and_beat():
    name = f"solpaper_run_{uuid.uuid4().hex[:8]}"
    admin = "postgres://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        CACHE_KEY_PREFIX=name,
        CHANNEL_LAYER_PREFIX=name,
        PORT=str(port),
        BEAT_HEARTBEAT_SECONDS="1",
        CELERY_CONCURRENCY="1",
    )
    try:
        _migrate(env)
        proc = subprocess.Popen(
            [PYTHON, "-m", "config.supervisor"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            status, body = _wait_ready(port, proc, want_beat=True, limit=90)
            assert body["mode"] == "real"
            assert body["checks"]["database"] == {"ok": True, "engine": "postgresql"}
            assert body["checks"]["redis"] == {"ok": True, "configured": True}
            assert body["checks"]["beat"]["runner"] == "celery-beat"
        finally:
            out = _stop_and_check(proc)
        started = out.split("supervisor: started")[1].splitlines()[0]
        assert "worker (pid" in started and "beat (pid" in started
        assert started.count("beat (pid") == 1
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
