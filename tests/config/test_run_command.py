"""What `make run` starts serves one address in both modes -- HTTP and a WebSocket -- and
Ctrl-C stops all of it.

Embedded: one daphne. Real stack: nginx in front of gunicorn (HTTP) and daphne (``/ws/``), plus a
Celery worker and beat; an order placed over HTTP (gunicorn) reaches the user's socket (daphne)
through Redis. Every process, gunicorn's and nginx's workers included, is gone after SIGINT.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from solders.keypair import Keypair
from websockets.sync.client import connect as ws_connect

from config.serving import find_nginx
from tests.conftest import PYTHON, ROOT, free_port, subprocess_env

pytestmark = pytest.mark.slow

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
RUN_DIRS = ROOT / "var" / "run"


def _readyz(port: int) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _wait_ready(port: int, sup: Supervisor, want_beat: bool, limit: float = 60) -> tuple[int, dict]:
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        assert sup.proc.poll() is None, sup.output[-4000:]
        last = _readyz(port)
        if last and (not want_beat or last[1]["checks"]["beat"]["ok"]):
            return last
        time.sleep(0.3)
    raise AssertionError(f"no usable /readyz answer: {last}")


class Supervisor:
    """``python -m config.supervisor`` with its output drained into memory by a thread (a pipe
    nobody reads would block the children's logging once full)."""

    def __init__(self, env: dict, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "config.supervisor", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.started_line = threading.Event()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("supervisor: started"):
                self.started_line.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def started(self, limit: float = 90) -> dict[str, int]:
        """The children by name, from the "started" line."""
        deadline = time.monotonic() + limit
        while not self.started_line.wait(0.2):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output[-4000:]
        line = next(line for line in self.lines if line.startswith("supervisor: started"))
        return {name: int(pid) for name, pid in re.findall(r"(\w+) \(pid (\d+)\)", line)}

    def stop(self, pids: set[int], sig: int = signal.SIGINT) -> str:
        """Signal the supervisor; it reports stopping and every one of ``pids`` is gone."""
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        assert "supervisor: stopped" in self.output, self.output[-4000:]
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        return self.output


def _group(pgid: int) -> set[int]:
    """Every live process in process group ``pgid`` (a child's workers share its group)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.add(int(entry.name))
    return members


def _wait_group_size(pgid: int, size: int, limit: float = 60) -> set[int]:
    deadline = time.monotonic() + limit
    while len(members := _group(pgid)) != size and time.monotonic() < deadline:
        time.sleep(0.2)
    return members


def _members(children: dict[str, int]) -> set[int]:
    """Every process of every child's group, once gunicorn has its WEB_CONCURRENCY=2 workers."""
    if "gunicorn" in children:
        assert len(_wait_group_size(children["gunicorn"], 1 + 2)) == 3, "gunicorn master + 2 workers"
    return set().union(*(_group(pid) for pid in children.values()))


def _require_nginx() -> None:
    if find_nginx(os.environ) is None:
        pytest.fail("nginx is missing: `make nginx` installs Debian's nginx (apt-get, as root)")


def _run_dirs() -> set[Path]:
    return set(RUN_DIRS.glob("web-*")) if RUN_DIRS.exists() else set()


def _migrate(env: dict) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr


def _sign_in(base: str) -> str:
    """A new wallet's bearer token; the client forges X-Forwarded-For, which must not count."""
    keypair = Keypair()
    with httpx.Client(base_url=base, timeout=10, headers={"X-Forwarded-For": "203.0.113.9"}) as client:
        issued = client.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
        signature = str(keypair.sign_message(issued["message"].encode()))
        response = client.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
        assert response.status_code == 200, response.text
        return response.json()["token"]


def _until(ws, wanted: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] == wanted:
            return frame


def _serves_http_and_websockets(port: int) -> None:
    """Through the one address: a page, a request id passed through, and a signed-in socket that
    gets the public price feed and the fill of an order placed over HTTP."""
    base = f"http://127.0.0.1:{port}"
    page = httpx.get(f"{base}/trade/", headers={"X-Request-ID": "run-test-0001"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-request-id"] == "run-test-0001"
    token = _sign_in(base)
    sessions = httpx.get(f"{base}/api/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert [session["ip"] for session in sessions.json()] == ["127.0.0.1"], "the client's address, not its header"
    with ws_connect(f"ws://127.0.0.1:{port}/ws/?token={token}", origin=base, open_timeout=10) as ws:
        _until(ws, "authenticated")
        ws.send(json.dumps({"type": "subscribe", "channels": ["prices", "account"]}))
        _until(ws, "subscribed")
        assert _until(ws, "price_update")["data"]["symbol"] == "SOL-USD"
        order = httpx.post(
            f"{base}/api/v1/orders",
            json={"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "0.01", "client_order_id": "run-1"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert order.status_code == 201, order.text
        assert _until(ws, "order_fill")["data"]["order_id"] == order.json()["id"]


def _answers_requests_whose_body_it_does_not_read(port: int) -> None:
    """Bodies the app answers without reading -- over Django's limit (its 413), or sent to an
    operation that refuses the caller first (401) -- get the app's answer even many at once
    (never nginx's 502 for a connection closed under its upload); one far past the limit is
    refused by nginx before buffering, in the same error shape."""
    base = f"http://127.0.0.1:{port}"
    json_type = {"Content-Type": "application/json"}

    def post(path: str, size: int) -> httpx.Response:
        return httpx.post(f"{base}{path}", content=b"x" * size, headers=json_type, timeout=60)

    with ThreadPoolExecutor(max_workers=12) as pool:
        too_large = list(pool.map(lambda _: post("/api/v1/auth/nonce", 3 * 2**20), range(12)))
        unauthenticated = list(pool.map(lambda _: post("/api/v1/orders", 2**20), range(12)))
    assert [r.status_code for r in too_large] == [413] * 12, too_large[0].text[:300]
    assert {r.json()["message"] for r in too_large} == {"The request body is larger than the limit of 2621440 bytes."}
    assert [r.status_code for r in unauthenticated] == [401] * 12, unauthenticated[0].text[:300]
    far_too_large = post("/api/v1/auth/nonce", 11 * 2**20)
    assert far_too_large.status_code == 413
    assert far_too_large.json() == {
        "code": "payload_too_large",
        "message": "The request body is too large.",
        "extra": {"limit_bytes": 2_621_440},
    }
    far_too_large_v2 = post("/v2/orders", 11 * 2**20)  # Alpaca's shape under /v2 (docs/alpaca.md)
    assert far_too_large_v2.status_code == 413
    assert far_too_large_v2.json() == {"code": 41310000, "message": "request body is too large"}


def test_embedded_mode_serves_http_and_websockets_from_one_daphne(tmp_path):
    """Embedded: one daphne answers /readyz (in-process jobs), a page and a WebSocket on
    HOST:PORT; no Celery, no nginx; SIGINT leaves nothing behind."""
    port = free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=None,
        PORT=str(port),
        BEAT_HEARTBEAT_SECONDS="1",
        PRICE_MODE="synthetic",
    )
    _migrate(env)
    sup = Supervisor(env)
    pids: set[int] = set()
    try:
        children = sup.started()
        assert set(children) == {"daphne"}
        pids = _group(children["daphne"])
        status, body = _wait_ready(port, sup, want_beat=True)
        assert body["mode"] == "embedded"
        assert body["checks"]["database"] == {"ok": True, "engine": "sqlite3"}
        assert body["checks"]["redis"] == {"ok": True, "configured": False}
        assert body["checks"]["beat"]["runner"] == "in-process"
        assert status == (200 if body["checks"]["price"]["ok"] else 503)
        _serves_http_and_websockets(port)
    finally:
        sup.stop(pids)


@pytest.fixture(scope="module")
def real_stack_env():
    """A scratch PostgreSQL database, migrated once for this module's real-stack runs."""
    name = f"solpaper_run_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        CACHE_KEY_PREFIX=name,
        CHANNEL_LAYER_PREFIX=name,
        BEAT_HEARTBEAT_SECONDS="1",
        CELERY_CONCURRENCY="1",
        PRICE_MODE="synthetic",
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
        NGINX=None,
    )
    try:
        _migrate(env)
        yield env
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_real_stack_serves_http_from_gunicorn_and_websockets_from_daphne_behind_nginx(real_stack_env):
    """Real stack: nginx on PORT, gunicorn (master + WEB_CONCURRENCY workers) and daphne behind
    it, one Celery worker, one beat and the stream service (idle: synthetic mode); /readyz, a page,
    an order and its fill on a socket all go through the one address; SIGINT ends every process of
    every group and removes the run directory."""
    _require_nginx()
    port = free_port()
    env = {**real_stack_env, "PORT": str(port)}
    dirs_before = _run_dirs()
    sup = Supervisor(env)
    pids: set[int] = set()
    try:
        children = sup.started()
        assert list(children) == ["gunicorn", "daphne", "worker", "beat", "streams", "nginx"]
        status, body = _wait_ready(port, sup, want_beat=True, limit=90)
        assert body["mode"] == "real"
        assert body["checks"]["database"] == {"ok": True, "engine": "postgresql"}
        assert body["checks"]["redis"] == {"ok": True, "configured": True}
        assert body["checks"]["beat"]["runner"] == "celery-beat"
        pids = _members(children)
        assert len(_group(children["nginx"])) >= 2, "nginx master + its workers"
        assert len(_run_dirs() - dirs_before) == 1
        _serves_http_and_websockets(port)
        _answers_requests_whose_body_it_does_not_read(port)
    finally:
        out = sup.stop(pids)
    assert "warning: no nginx" not in out
    assert _run_dirs() == dirs_before


@pytest.mark.parametrize(
    ("args", "overrides", "expected"),
    [
        (["--web"], {}, ["gunicorn", "daphne", "nginx"]),
        ([], {"NGINX": "/nonexistent/nginx"}, ["daphne", "worker", "beat", "streams"]),
    ],
    ids=["web-tier-only", "no-nginx-falls-back-to-daphne"],
)
def test_real_stack_variants_serve_one_address(real_stack_env, args, overrides, expected):
    """``--web`` (the containers' web service) starts nginx, gunicorn and daphne only; without an
    nginx binary one warning line says so and daphne alone serves HTTP and WebSockets. Either way
    HTTP and a WebSocket answer on PORT, and SIGTERM stops everything."""
    if "NGINX" not in overrides:
        _require_nginx()
    port = free_port()
    sup = Supervisor({**real_stack_env, "PORT": str(port), **overrides}, *args)
    pids: set[int] = set()
    try:
        children = sup.started()
        assert list(children) == expected
        _, body = _wait_ready(port, sup, want_beat=False)
        pids = _members(children)
        assert body["mode"] == "real"
        base = f"http://127.0.0.1:{port}"
        with ws_connect(f"ws://127.0.0.1:{port}/ws/", origin=base, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "subscribe", "channels": ["prices"]}))
            assert _until(ws, "subscribed")["data"]["channels"] == ["prices"]
    finally:
        out = sup.stop(pids, signal.SIGTERM)
    warnings = [line for line in out.splitlines() if "warning: no nginx" in line]
    assert len(warnings) == (1 if "NGINX" in overrides else 0)
