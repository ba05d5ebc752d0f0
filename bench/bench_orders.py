"""Market orders over HTTP against the real stack, next to pgbench TPC-B on the same server.

One command (needs PostgreSQL and Redis on 127.0.0.1, like ``make test``)::

    .venv/bin/python bench/bench_orders.py            # or: make bench

It creates a scratch database (``BENCH_DB``, default ``solpaper_bench``), migrates it, starts
``BENCH_WEB`` daphne processes (default 1, the production ASGI setup) under
``config.settings.prod``, gives each client its own user and API key, keeps a fresh price in
Redis, and fires ``BENCH_ORDERS`` market orders per concurrency level (``BENCH_LEVELS``,
default ``1,8,32``; clients round-robin over the processes). It prints fills/s, p50/p99 latency,
the CPU share each daphne process used, the CPU per fill of the web processes and of the whole
PostgreSQL server (``measure.postgres_cpu``: the bench has it to itself), then pgbench TPC-B tps
at the same client counts
(scale 10, ``BENCH_PGBENCH_SECONDS`` each), and the ratio. Scratch databases are dropped at the
end.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

from measure import postgres_cpu

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("BENCH_DB", "solpaper_bench")
PGBENCH_DB = f"{DB}_pgbench"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEVELS = [int(x) for x in os.environ.get("BENCH_LEVELS", "1,8,32").split(",")]
ORDERS = int(os.environ.get("BENCH_ORDERS", "600"))
WEB = int(os.environ.get("BENCH_WEB", "1"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "10"))
BASE_PORT = int(os.environ.get("BENCH_PORT", "8870"))
LOG = ROOT / "var" / "bench_orders_web.log"  # daphne stderr (errors of the server under load)

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DATABASE_URL": f"{PG}/{DB}",
    "REDIS_URL": REDIS,
    "SECRET_KEY": "bench-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
    "CACHE_KEY_PREFIX": "bench",
    "CHANNEL_LAYER_PREFIX": "bench",
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


def keep_price_fresh(stop: threading.Event) -> None:
    from datetime import datetime, timezone

    from django.core.cache import cache

    from pricing.selectors import LATEST_PRICE_KEY

    while not stop.is_set():
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        record = {
            "symbol": "SOL-USD",
            "price": "150",
            "bid": None,
            "ask": None,
            "sources": ["bench"],
            "computed_at": now,
            "mode": "synthetic",
        }
        cache.set(LATEST_PRICE_KEY, record, timeout=30)
        stop.wait(1)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_level(concurrency: int, clients: list[dict[str, str]], level_tag: str, pids: list[int]) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[int, str] = {}
    counter = iter(range(ORDERS))
    async with httpx.AsyncClient(timeout=30) as http:

        async def worker(index: int) -> None:
            headers = clients[index]
            port = BASE_PORT + index % WEB  # clients round-robin over the daphne processes
            for mine, n in enumerate(counter):
                body = {
                    "symbol": "SOL-USD",
                    # per client: buy, buy, sell, ... so a sell never meets an empty SOL balance
                    "side": "sell" if mine % 3 == 2 else "buy",
                    "type": "market",
                    "qty": "0.01",
                    "client_order_id": f"{level_tag}-{n}",
                }
                started = time.perf_counter()
                response = await http.post(f"http://127.0.0.1:{port}/api/v1/orders", json=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code != 201 and response.status_code not in errors:
                    errors[response.status_code] = response.text[:300]

        cpu_before = sum(_cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = sum(_cpu_seconds(pid) for pid in pids) - cpu_before
    latencies.sort()
    return {
        "concurrency": concurrency,
        "elapsed": elapsed,
        "web_cpu_seconds": cpu,
        "web_cpu": cpu / elapsed / max(1, len(pids)),  # mean share of one core per daphne process
        "fills_per_s": statuses.get(201, 0) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "statuses": statuses,
        "errors": errors,
    }


def pgbench_tps(clients: int) -> Decimal:
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 8)),
            "-T",
            str(PGBENCH_SECONDS),
            f"{PG}/{PGBENCH_DB}",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:  # e.g. "too many clients" when others share the server
        print(f"         pgbench -c {clients} failed: {out.stderr.strip().splitlines()[-1][:200]}")
        return Decimal(0)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    return Decimal(match.group(1)) if match else Decimal(0)


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"daphne did not listen on {port}")


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
    clients = make_clients(max(LEVELS))
    stop = threading.Event()
    threading.Thread(target=keep_price_fresh, args=(stop,), daemon=True).start()
    webs = [
        subprocess.Popen(
            [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(BASE_PORT + i), "config.asgi:application"],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=open(LOG, "ab"),  # noqa: SIM115 - closed when the process ends
        )
        for i in range(WEB)
    ]
    try:
        for i in range(WEB):
            wait_port(BASE_PORT + i)
        print(f"market orders over HTTP: {ORDERS} per level, {WEB} daphne process(es), PostgreSQL + Redis")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        print(
            f"{'clients':>8} {'fills/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'web cpu':>8} "
            f"{'web ms/fill':>11} {'pg ms/fill':>10} {'pgbench tps':>12} {'ratio':>6}  statuses"
        )
        results = []
        pids = [web.pid for web in webs]
        for level in LEVELS:
            pg_before = postgres_cpu()  # the whole server's CPU: this bench has it to itself
            result = asyncio.run(run_level(level, clients, f"c{level}", pids))
            fills = max(1, result["statuses"].get(201, 0))
            web_ms, pg_ms = result["web_cpu_seconds"] * 1000 / fills, (postgres_cpu() - pg_before) * 1000 / fills
            tps = pgbench_tps(level)
            ratio = Decimal(str(round(result["fills_per_s"], 3))) / tps if tps else Decimal(0)
            for code, text in result["errors"].items():
                print(f"         first {code}: {text}")
            results.append((result, tps, ratio))
            print(
                f"{level:>8} {result['fills_per_s']:>9.1f} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} "
                f"{result['web_cpu']:>8.0%} {web_ms:>11.1f} {pg_ms:>10.1f} {tps:>12.1f} {ratio:>6.3f}  "
                f"{result['statuses']}"
            )
        best = max(results, key=lambda r: r[0]["fills_per_s"])
        print(
            f"best: {best[0]['fills_per_s']:.1f} fills/s at {best[0]['concurrency']} clients; "
            f"ratio to pgbench at that concurrency {best[2]:.3f} (aim >= 0.25)"
        )
        from django.core.management import call_command

        call_command("reconcile")
    finally:
        stop.set()
        for web in webs:
            web.terminate()
        for web in webs:
            web.wait(10)
        from django.db import connections

        connections.close_all()
        for name in (DB, PGBENCH_DB):
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
