"""Cancel latency for ``bench_triggers.py``, in a child process inside ``django.setup()`` on the
bench's database copy; BENCH_CANCEL_CLIENTS concurrent clients, each cancelling its own traders'
resting orders one after the other, BENCH_CANCELS in all:

* ``cancel_latency``: over HTTP against the real stack's web tier (``python -m config.supervisor
  --web``: nginx, gunicorn, daphne under prod settings; no Celery worker or beat, so no tick moves
  the book), ``DELETE /api/v1/orders/{id}`` with each trader's API key;
* ``cancel_latency_service``: the service itself (``order_cancel``) from that many processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from trigger_books import CANCEL_CLIENTS, CANCELS

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "var" / "bench_triggers_web.log"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jobs(clients: int, total: int, *, keys: bool = True) -> list[list[tuple[dict[str, str], str]]]:
    """Per client ``(headers, order id)`` of its own traders' open orders (the newest users' that
    still have some), ``total // clients`` each; ``keys``: an API key per trader (else the headers
    carry the user's id)."""
    from accounts.models import User
    from accounts.services import api_key_create
    from trading.models import Order

    per_client = total // clients
    jobs: list[list[tuple[dict[str, str], str]]] = [[] for _ in range(clients)]
    users = User.objects.filter(username__startswith="bench").order_by("-id").iterator()
    for client in jobs:
        while len(client) < per_client:
            user = next(users)
            open_ids = Order.objects.filter(user=user, status="new").values_list("id", flat=True)
            if not open_ids:
                continue
            headers = {"user": str(user.pk)}
            if keys:
                key, secret = api_key_create(user=user, name="bench", scopes=["trade"])
                headers = {"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": secret}
            client += [(headers, str(order_id)) for order_id in open_ids][: per_client - len(client)]
    return jobs


async def _run(base: str, jobs) -> tuple[list[float], dict[int, int], float]:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=len(jobs), max_keepalive_connections=len(jobs))
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        for headers, _order in [client[0] for client in jobs] * 4:  # warm the workers (imports, connections)
            await http.get("/api/v1/orders?status=new&limit=1", headers=headers)

        async def client(mine) -> None:
            for headers, order_id in mine:
                started = time.perf_counter()
                response = await http.delete(f"/api/v1/orders/{order_id}", headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client(mine) for mine in jobs))
        elapsed = time.perf_counter() - started
    return sorted(latencies), statuses, elapsed


def _wait(base: str, supervisor: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert supervisor.poll() is None, f"the web tier exited: see {LOG}"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the web tier did not come up: see {LOG}")


def cancel_latency(*, name: str, env: dict[str, str]) -> dict:
    jobs = _jobs(CANCEL_CLIENTS, CANCELS)
    port = _port()
    web_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "config.supervisor", "--web"], cwd=ROOT, env=web_env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, supervisor)
        latencies, statuses, elapsed = asyncio.run(_run(base, jobs))
    finally:
        os.killpg(supervisor.pid, signal.SIGINT)  # Ctrl-C, as an operator stops `make run`
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
    from config.serving import find_nginx, web_concurrency, web_threads

    tier = (
        f"nginx, gunicorn {web_concurrency(web_env)} processes x {web_threads(web_env)} threads, daphne"
        if find_nginx(web_env)
        else "daphne alone (no nginx)"
    )
    return {
        "clients": len(jobs),
        "tier": tier,
        "count": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max": latencies[-1] * 1000,
        "per_s": len(latencies) / elapsed,
        "statuses": statuses,
    }


def _cancel_each(mine: list[tuple[dict[str, str], str]]) -> list[float]:
    """One client process: ``order_cancel`` for each of its orders, timed."""
    from accounts.models import User
    from trading.services.order_end import order_cancel

    users: dict[str, User] = {}
    latencies = []
    for headers, order_id in mine:
        user = users.get(headers["user"]) or users.setdefault(headers["user"], User.objects.get(pk=headers["user"]))
        started = time.perf_counter()
        order_cancel(user=user, order_id=order_id)
        latencies.append(time.perf_counter() - started)
    return latencies


def cancel_latency_service() -> dict:
    import multiprocessing

    from django.db import connections

    jobs = _jobs(CANCEL_CLIENTS, CANCELS, keys=False)
    connections.close_all()  # each forked client opens its own connection
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        latencies = sorted(x for client in pool.map(_cancel_each, jobs) for x in client)
    elapsed = time.perf_counter() - started
    return {
        "clients": len(jobs),
        "count": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max": latencies[-1] * 1000,
        "per_s": len(latencies) / elapsed,
    }
