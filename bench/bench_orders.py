"""Market orders and reads over HTTP against the deployment ``make run`` starts, next to pgbench.

One command (needs PostgreSQL and Redis on 127.0.0.1, like ``make test``)::

    .venv/bin/python bench/bench_orders.py            # or: make bench

It creates a scratch database (``BENCH_DB``, default ``solpaper_bench``), migrates it, and starts
the platform exactly as ``make run`` does in the real stack -- ``python -m config.supervisor``
under ``config.settings.prod`` (its web tier, its Celery worker and beat; ``PRICE_MODE=synthetic``
so the beat keeps a fresh index with no internet) -- on one address (``BENCH_PORT``). Each client
has its own user and API key. Per concurrency level (``BENCH_LEVELS``, default ``1,8,32``) it fires
``BENCH_ORDERS`` market orders, then at ``BENCH_READ_CLIENTS`` (8) clients ``BENCH_READS`` GETs of
``/portfolio``, ``/orders`` and ``/positions``, and prints: requests/s, p50/p99 latency, the CPU
per request of the web tier (every process of it: proxy, HTTP workers, daphne; from ``/proc``), of
the whole PostgreSQL server (``measure.postgres_cpu``: the bench has it to itself) and of this
load generator itself (``load ms``: it shares the machine's cores with the server), the SQL
round trips per request (counted in this process on the same code with Django's query capture,
BEGIN/COMMIT included), pgbench TPC-B tps at the same client count (scale 10,
``BENCH_PGBENCH_SECONDS`` each) and the ratio. Then ``reconcile``. Scratch databases are dropped.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from measure import cpu_seconds, postgres_cpu

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("BENCH_DB", "solpaper_bench")
PGBENCH_DB = f"{DB}_pgbench"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEVELS = [int(x) for x in os.environ.get("BENCH_LEVELS", "1,8,32").split(",")]
ORDERS = int(os.environ.get("BENCH_ORDERS", "600"))
READS = int(os.environ.get("BENCH_READS", "600"))
READ_CLIENTS = int(os.environ.get("BENCH_READ_CLIENTS", "8"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PORT", "8870"))
LOG = ROOT / "var" / "bench_orders_web.log"  # the deployment's output (errors under load)
READ_PATHS = ("/api/v1/portfolio", "/api/v1/orders", "/api/v1/positions")
WEB_PROGRAMS = ("nginx", "gunicorn", "daphne")  # the web tier's processes, by command line

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DATABASE_URL": f"{PG}/{DB}",
    "REDIS_URL": REDIS,
    "SECRET_KEY": "bench-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
    "CACHE_KEY_PREFIX": "bench",
    "CHANNEL_LAYER_PREFIX": "bench",
    "PRICE_MODE": "synthetic",
    "HOST": "127.0.0.1",
    "PORT": str(PORT),
}
PY = sys.executable


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def setup_django() -> None:
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def make_clients(count: int) -> list[dict[str, str]]:
    from solders.keypair import Keypair

    from accounts.models import User
    from accounts.services import api_key_create

    headers = []
    for _ in range(count):
        address = str(Keypair().pubkey())
        user = User.objects.create_user(username=address, address=address)
        key, secret = api_key_create(user=user, name="bench", scopes=["read", "trade"])
        headers.append({"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": secret})
    return headers


def order_body(tag: str, mine: int) -> dict[str, str]:
    # per client: buy, buy, sell, ... so a sell never meets an empty SOL balance
    side = "sell" if mine % 3 == 2 else "buy"
    return {"symbol": "SOL-USD", "side": side, "type": "market", "qty": "0.01", "client_order_id": tag}


def descendants(root: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every process under ``root`` (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            try:
                cmdline = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode()
            except OSError:
                continue
            found.append((pid, cmdline))
            todo.append(pid)
    return found


def web_pids(supervisor: int) -> list[int]:
    return [pid for pid, cmd in descendants(supervisor) if any(name in cmd for name in WEB_PROGRAMS)]


def tier_names(supervisor: int) -> str:
    counts: dict[str, int] = {}
    for _pid, cmd in descendants(supervisor):
        name = next((n for n in (*WEB_PROGRAMS, "celery") if n in cmd), None)
        if name:
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} x{c}" for n, c in counts.items())


async def run_level(
    concurrency: int, clients: list[dict[str, str]], total: int, request
) -> tuple[float, list[float], dict[int, int], dict[int, str]]:
    """``total`` requests from ``concurrency`` clients; ``request(http, headers, n, mine)`` sends one."""
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[int, str] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=30, limits=limits) as http:

        async def worker(index: int) -> None:
            for mine, n in enumerate(counter):
                started = time.perf_counter()
                response = await request(http, clients[index], n, mine)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 300 and response.status_code not in errors:
                    errors[response.status_code] = response.text[:300]

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return elapsed, latencies, statuses, errors


def measured(supervisor: int, concurrency: int, clients, total: int, request, ok: int) -> dict:
    """Run a level and read the CPU the web tier and PostgreSQL spent on it."""
    pids = web_pids(supervisor)
    web_before, pg_before, client_before = cpu_seconds(pids), postgres_cpu(), time.process_time()
    elapsed, latencies, statuses, errors = asyncio.run(run_level(concurrency, clients, total, request))
    web, pg = cpu_seconds(pids) - web_before, postgres_cpu() - pg_before
    client = time.process_time() - client_before
    done = max(1, statuses.get(ok, 0))
    return {
        "per_s": statuses.get(ok, 0) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "web_ms": web * 1000 / done,
        "pg_ms": pg * 1000 / done,
        "client_ms": client * 1000 / done,
        "statuses": statuses,
        "errors": errors,
    }


def round_trips(method: str, path: str, headers: dict[str, str], bodies) -> float:
    """SQL round trips per request of this code path, counted in this process by Django's query
    capture (BEGIN and COMMIT are counted outside a transaction), averaged over ``bodies``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(**{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})

    def send(body):
        return client.post(path, body, format="json") if method == "POST" else client.get(path)

    send(bodies[0])  # the key's last-use touch and the caches warm (an order: the first of them)
    counts = []
    for body in bodies[1:]:
        with CaptureQueriesContext(connection) as captured:
            send(body)
        counts.append(len(captured))
    return sum(counts) / len(counts)


def pgbench_tps(clients: int) -> Decimal:
    out = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 8)), "-T", str(PGBENCH_SECONDS)]
        + [f"{PG}/{PGBENCH_DB}"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:  # e.g. "too many clients" when others share the server
        print(f"         pgbench -c {clients} failed: {out.stderr.strip().splitlines()[-1][:200]}")
        return Decimal(0)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    return Decimal(match.group(1)) if match else Decimal(0)


def wait_ready(supervisor: subprocess.Popen, timeout: float = 90) -> None:
    """The one address answers ``/readyz`` 200 (database, Redis, a fresh price, the beat)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            raise RuntimeError(f"the supervisor exited with {supervisor.returncode}: see {LOG}")
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the deployment did not get ready on {PORT}: see {LOG}")


def row(label: str, r: dict, trips: float, tps: Decimal | None = None) -> str:
    ratio = f"{Decimal(str(round(r['per_s'], 3))) / tps:>6.3f}" if tps else f"{'':>6}"
    tps_text = f"{tps:>12.1f}" if tps is not None else f"{'':>12}"
    return (
        f"{label:>22} {r['per_s']:>9.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['web_ms']:>10.2f} "
        f"{r['pg_ms']:>9.2f} {r['client_ms']:>9.2f} {trips:>7.1f} {tps_text} {ratio}  {r['statuses']}"
    )


def main() -> None:
    LOG.parent.mkdir(parents=True, exist_ok=True)  # var/ is not in git
    for name in (DB, PGBENCH_DB):
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{name}"')
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=ENV, check=True)
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", f"{PG}/{PGBENCH_DB}"], check=True, capture_output=True)
    setup_django()
    from core.redis import redis_client

    redis_client().flushdb()
    clients = make_clients(max(*LEVELS, READ_CLIENTS) + 1)
    calibrate = clients.pop()  # the in-process round-trip count's own trader
    with open(LOG, "ab") as log:
        supervisor = subprocess.Popen(
            [PY, "-m", "config.supervisor"], cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(supervisor)
        print(f"the deployment of `make run` (real stack) on 127.0.0.1:{PORT}: {tier_names(supervisor.pid)}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        print(
            f"{'':>22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'web ms/req':>10} {'pg ms/req':>9} {'load ms':>9} "
            f"{'SQL rt':>7} {'pgbench tps':>12} {'ratio':>6}  statuses"
        )
        trips = round_trips("POST", "/api/v1/orders", calibrate, [order_body(f"rt-{n}", n) for n in range(7)])

        async def order(http, headers, n, mine):
            return await http.post("/api/v1/orders", json=order_body(f"c{level}-{n}", mine), headers=headers)

        results = {}
        for level in LEVELS:
            result = measured(supervisor.pid, level, clients, ORDERS, order, ok=201)
            tps = pgbench_tps(level)
            results[level] = (result, tps)
            for code, text in result["errors"].items():
                print(f"         first {code}: {text}")
            print(row(f"orders, {level} clients", result, trips, tps))
        for path in READ_PATHS if READS > 0 else ():  # BENCH_READS=0: orders only

            async def read(http, headers, n, mine, path=path):
                return await http.get(path, headers=headers)

            result = measured(supervisor.pid, READ_CLIENTS, clients, READS, read, ok=200)
            trips = round_trips("GET", path, calibrate, [None] * 4)
            print(row(f"GET {path.rsplit('/', 1)[1]}, {READ_CLIENTS}", result, trips))
        if 8 in results:
            eight, tps = results[8]
            print(
                f"8 clients: {eight['per_s']:.1f} fills/s, p99 {eight['p99']:.0f} ms, "
                f"{eight['web_ms']:.2f} ms web CPU per fill, ratio to pgbench {eight['per_s'] / float(tps or 1):.3f} "
                "(aim: >= 250 fills/s, >= 0.075, p99 < 100 ms, <= 5 ms, <= 4 round trips)"
            )
        from django.core.management import call_command

        call_command("reconcile")
    finally:
        supervisor.send_signal(signal.SIGINT)  # Ctrl-C, as an operator stops `make run`
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        from django.db import connections

        connections.close_all()
        for name in (DB, PGBENCH_DB):
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
