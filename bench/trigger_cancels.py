"""Cancel latency for ``bench_triggers.py`` (and ``bench_cancels.py``), on the bench's database copy,
for the code of one source tree (``tree``: this one, or the "before" tree of ``BENCH_BEFORE_REF``, a
git ref checked out by ``trigger_books.tree_checkout``); BENCH_CANCEL_CLIENTS concurrent clients,
each cancelling its own traders' resting orders one after the other, BENCH_CANCELS in all:

* ``cancel_latency``: over HTTP against the real stack's web tier (``python -m config.supervisor
  --web`` run from ``tree``: nginx, gunicorn, daphne under prod settings; no Celery worker or beat,
  so no tick moves the book), ``DELETE /api/v1/orders/{id}`` with each trader's API key: first one
  client alone (BENCH_CANCELS_ALONE cancels, one after the other), then the clients at once, with
  the CPU per cancel of the web tier (by part: nginx, gunicorn, daphne, the supervisor), of the
  whole PostgreSQL server and of the clients' own process (it shares the machine);
* ``cancel_service``: in a child process importing ``tree``'s code (``python bench/trigger_cancels.py
  --service``), one cancel alone (its statements, then BENCH_CANCELS_ALONE cancels one after the
  other: wall and CPU of this process each), the service (``order_cancel``) from
  BENCH_CANCEL_CLIENTS processes, and then the whole request in that process (Django's WSGI
  handler, as gunicorn calls it: middleware, API-key authentication, DRF, the service, the
  response), BENCH_CANCEL_REQUESTS (300) one after the other: its statements, wall and CPU each.

Each figure carries the machine's load average when it was taken (1 min).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

from trigger_books import CANCEL_CLIENTS, CANCELS

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "var" / "bench_triggers_web.log"
ALONE = int(os.environ.get("BENCH_CANCELS_ALONE", "50"))
REQUESTS = int(os.environ.get("BENCH_CANCEL_REQUESTS", "300"))  # the whole request in-process: CPU each


def load() -> float:
    return os.getloadavg()[0]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jobs(sizes: list[int], *, keys: bool = True) -> list[list[tuple[dict[str, str], str]]]:
    """Per client (``sizes``: how many orders each) ``(headers, order id)`` of its own traders' open
    orders (the newest users' that still have some; no trader shared by two clients); ``keys``: an
    API key per trader (else the headers carry the user's id)."""
    from accounts.models import User
    from accounts.services import api_key_create
    from trading.models import Order

    jobs: list[list[tuple[dict[str, str], str]]] = [[] for _ in sizes]
    users = User.objects.filter(username__startswith="trader").order_by("-id").iterator()
    for client, size in zip(jobs, sizes, strict=True):
        while len(client) < size:
            user = next(users)
            open_ids = Order.objects.filter(user=user, status="new").values_list("id", flat=True)
            if not open_ids:
                continue
            headers = {"user": str(user.pk)}
            if keys:
                key, secret = api_key_create(user=user, name="bench", scopes=["trade"])
                headers = {"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": secret}
            client += [(headers, str(order_id)) for order_id in open_ids][: size - len(client)]
    return jobs


def _figures(latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50": statistics.median(ordered) * 1000,
        "p90": ordered[int(len(ordered) * 0.9)] * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max": ordered[-1] * 1000,
        "per_s": len(ordered) / elapsed,
        "load": load(),
    }


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the web tier: the supervisor, nginx, gunicorn, daphne)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return [pid] + [p for child in children for p in _tree(child)]


def _role(pid: int) -> str:
    """Which part of the web tier ``pid`` is: nginx, gunicorn (master and workers), daphne, or the
    supervisor."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return "gone"
    return next((name for name in ("nginx", "gunicorn", "daphne") if name in command), "supervisor")


def _cpu(pids: list[int], postmaster: int) -> tuple[dict[str, float], float]:
    """CPU seconds so far of ``pids``, by part of the web tier, and of the whole PostgreSQL server
    (its main process)."""
    from measure import cpu_seconds, postgres_cpu

    parts: dict[str, float] = {}
    for pid in pids:
        role = _role(pid)
        parts[role] = parts.get(role, 0.0) + cpu_seconds([pid])
    return parts, postgres_cpu(postmaster)


async def _run(base: str, alone, jobs, pids: list[int], postmaster: int) -> tuple[dict, dict, dict[int, int]]:
    import httpx

    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=len(jobs), max_keepalive_connections=len(jobs))
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def warm(headers: dict[str, str]) -> None:
            for _ in range(8):
                await http.get("/api/v1/orders?status=new&limit=1", headers=headers)

        # Warm every worker thread (imports, its database connection, the first request's setup):
        # as many clients at once as will cancel, so the measured requests meet a warm server.
        await asyncio.gather(*(warm(client[0][0]) for client in jobs))

        async def client(mine, latencies: list[float]) -> None:
            for headers, order_id in mine:
                started = time.perf_counter()
                response = await http.delete(f"/api/v1/orders/{order_id}", headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        one: list[float] = []
        started = time.perf_counter()
        await client(alone, one)
        one_figures = _figures(one, time.perf_counter() - started)
        many: list[float] = []
        web, pg = _cpu(pids, postmaster)
        client_cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(mine, many) for mine in jobs))
        many_figures = _figures(many, time.perf_counter() - started)
        web_after, pg_after = _cpu(pids, postmaster)
        client_ms = (time.process_time() - client_cpu) / len(many) * 1000
        parts = {role: (web_after.get(role, 0.0) - web.get(role, 0.0)) / len(many) * 1000 for role in web}
        many_figures.update(web_ms=sum(parts.values()), web_parts=parts, pg_ms=(pg_after - pg) / len(many) * 1000,
                            client_ms=client_ms)  # fmt: skip
    return one_figures, many_figures, statuses


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


def cancel_latency(*, env: dict[str, str], tree: Path = ROOT) -> dict:
    """The web tier of ``tree`` on the bench's copy: one client alone, then the clients at once."""
    alone, *jobs = _jobs([ALONE] + [CANCELS // CANCEL_CLIENTS] * CANCEL_CLIENTS)
    port = _port()
    web_env = {
        **env,
        "PYTHONPATH": str(tree),
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
            [sys.executable, "-m", "config.supervisor", "--web"], cwd=tree, env=web_env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, supervisor)
        from measure import postmaster_pid

        one, many, statuses = asyncio.run(_run(base, alone, jobs, _tree(supervisor.pid), postmaster_pid()))
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
    return {"clients": len(jobs), "tier": tier, "alone": one, **many, "statuses": statuses}


def http_line(label: str, http: dict) -> str:
    one, parts = http["alone"], ", ".join(f"{role} {ms:.1f}" for role, ms in http["web_parts"].items())
    return (
        f"[{label}] cancel over HTTP ({http['tier']}): one client alone, {one['count']} cancels: "
        f"p50 {one['p50']:.1f} ms, p99 {one['p99']:.1f} ms (load {one['load']:.2f}); {http['clients']} clients, "
        f"{http['count']} cancels: p50 {http['p50']:.1f} ms, p90 {http['p90']:.1f} ms, p99 {http['p99']:.1f} ms, "
        f"max {http['max']:.1f} ms, {http['per_s']:.0f}/s (load {http['load']:.2f}); CPU per cancel: web tier "
        f"{http['web_ms']:.1f} ms ({parts}), PostgreSQL server {http['pg_ms']:.1f} ms, the clients' process "
        f"{http['client_ms']:.1f} ms; statuses {http['statuses']}"
    )


def service_lines(label: str, service: dict) -> str:
    one, request = service["alone"], service["request"]
    return (
        f"[{label}] cancel, the service (order_cancel): one alone, {one['statements']} statements "
        f"(BEGIN and COMMIT included), {one['count']} one after the other: p50 {one['p50']:.1f} ms, "
        f"p99 {one['p99']:.1f} ms, CPU {one['cpu_ms']:.1f} ms each (load {one['load']:.2f}); from "
        f"{service['clients']} processes, {service['count']} cancels: p50 {service['p50']:.1f} ms, "
        f"p99 {service['p99']:.1f} ms, max {service['max']:.1f} ms, {service['per_s']:.0f}/s "
        f"(load {service['load']:.2f})\n    its statements: " + "\n                    ".join(one["sql"]) + "\n"
        f"[{label}] cancel, the whole request in this process (Django's WSGI handler: middleware, API-key "
        f"authentication, DRF, the service, the response): {request['statements']} statements through the cursor "
        f"(BEGIN and COMMIT not counted); "
        f"{request['count']} one after the other: p50 {request['p50']:.1f} ms, CPU {request['cpu_ms']:.1f} ms each "
        f"(load {request['load']:.2f})\n    its statements: " + "\n                    ".join(request["sql"])
    )


def cancel_service(*, env: dict[str, str], tree: Path = ROOT) -> dict:
    """``--service`` in a child process importing ``tree``'s code; its RESULT line."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--service"], cwd=tree, env={**env, "PYTHONPATH": str(tree)},
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout  # fmt: skip
    return json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))


def _cancel_each(mine: list[tuple[dict[str, str], str]], users: dict | None = None) -> list[float]:
    """One client process: ``order_cancel`` for each of its orders, timed (``users``: the traders,
    by id, read beforehand; else read at their first order, untimed)."""
    from accounts.models import User
    from trading.services.order_end import order_cancel

    users = {} if users is None else users
    latencies = []
    for headers, order_id in mine:
        user = users.get(headers["user"]) or users.setdefault(headers["user"], User.objects.get(pk=headers["user"]))
        started = time.perf_counter()
        order_cancel(user=user, order_id=UUID(order_id))
        latencies.append(time.perf_counter() - started)
    return latencies


def _one_alone(mine: list[tuple[dict[str, str], str]]) -> dict:
    """One cancel to warm up, one whose statements are counted (BEGIN and COMMIT included), then
    the others one after the other: wall and this process's CPU each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    users = {headers["user"]: User.objects.get(pk=headers["user"]) for headers, _order in mine}
    _cancel_each(mine[:1], users)  # warm: the market registry's first load, the connection
    with CaptureQueriesContext(connection) as queries:
        _cancel_each(mine[1:2], users)
    cpu = time.process_time()
    started = time.perf_counter()
    latencies = _cancel_each(mine[2:], users)
    figures = _figures(latencies, time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu) / len(latencies) * 1000
    heads = [" ".join(query["sql"].split())[:72] for query in queries.captured_queries]
    return {**figures, "statements": len(heads), "sql": heads, "cpu_ms": cpu_ms}


def _delete(handler, headers: dict[str, str], order_id: str) -> None:
    """``DELETE /api/v1/orders/{order_id}`` through Django's WSGI handler, as gunicorn calls it."""
    environ = {
        "REQUEST_METHOD": "DELETE", "PATH_INFO": f"/api/v1/orders/{order_id}", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }  # fmt: skip
    statuses: list[str] = []
    b"".join(handler(environ, lambda status, _headers, _exc=None: statuses.append(status)))
    assert statuses[0].startswith("200"), statuses


def _requests_alone(mine: list[tuple[dict[str, str], str]]) -> dict:
    """The whole request in this process, one after the other: one to warm up, one of the same
    key whose statements are counted (its key used a moment ago, as a trading client's is: no
    ``last_used_at`` touch), then the others (wall and this process's CPU each)."""
    from django.core.handlers.wsgi import WSGIHandler
    from measure import statements_sent

    handler = WSGIHandler()
    _delete(handler, *mine[0])
    counted = next(job for job in mine[1:] if job[0] == mine[0][0])
    sent = statements_sent(lambda: _delete(handler, *counted))
    latencies, cpu = [], time.process_time()
    for headers, order_id in [job for job in mine[1:] if job is not counted]:
        started = time.perf_counter()
        _delete(handler, headers, order_id)
        latencies.append(time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu) / len(latencies) * 1000
    heads = [" ".join(sql.split())[:72] for sql in sent]
    return {**_figures(latencies, sum(latencies)), "statements": len(sent), "sql": heads, "cpu_ms": cpu_ms}


def service_main() -> None:
    import multiprocessing

    from django.db import connections

    alone, *jobs = _jobs([ALONE + 2] + [CANCELS // CANCEL_CLIENTS] * CANCEL_CLIENTS, keys=False)
    one = _one_alone(alone)
    connections.close_all()  # each forked client opens its own connection
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        latencies = [x for client in pool.map(_cancel_each, jobs) for x in client]
    many = _figures(latencies, time.perf_counter() - started)
    (requests,) = _jobs([REQUESTS + 2])  # after the processes: other traders' orders
    request = _requests_alone(requests)
    print("RESULT " + json.dumps({"clients": len(jobs), "alone": one, **many, "request": request}))


if __name__ == "__main__" and "--service" in sys.argv:
    import django

    django.setup()
    service_main()
