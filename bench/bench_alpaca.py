"""What Alpaca's ``/v2`` layer costs over ``/api/v1``: CPU per call and statements per call of the
same operations through both (a market order, the open orders, the account / portfolio, the
positions), through Django's test client in one process (middleware, authentication by API-key
headers, the rate limit's Redis counter on /v2, the view, the renderer; the test client leaves out
the server's HTTP parsing). The order service is the same one: what differs is parsing and
building Alpaca's objects.

Run: ``.venv/bin/python bench/bench_alpaca.py`` (or ``make bench``). A scratch PostgreSQL database
is created, migrated and dropped (``BENCH_PG_ADMIN_URL``, default postgres@127.0.0.1:5432),
Redis ``BENCH_REDIS_URL`` (db 9); ``BENCH_ALPACA_N`` calls per figure (300), best of
``BENCH_REPEATS`` rounds (3), the two APIs alternated round by round. Orders alternate buy and sell
of 0.01 SOL at a fixed index of 150, so the account stays funded.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import scratch_database, statements_sent  # noqa: E402

N = int(os.environ.get("BENCH_ALPACA_N", "300"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def _statements(call: Callable[[], object]) -> int:
    """How many statements one call sends through the cursor."""
    return len(statements_sent(call))


def _run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import User
    from accounts.services import api_key_create
    from bench.bench_price import bench_price_set

    call_command("migrate", "--noinput", verbosity=0)
    user = User.objects.create_user(username="bench-alpaca", address="BenchAlpaca11111111111111111111111111111111")
    key, secret = api_key_create(user=user, name="bench", scopes=["read", "trade"])
    client = Client(HTTP_APCA_API_KEY_ID=key.key_id, HTTP_APCA_API_SECRET_KEY=secret)
    bench_price_set("150", ["SOL-USD"], timeout=3600)
    sides = {"n": 0}

    def side() -> str:
        sides["n"] += 1
        return "buy" if sides["n"] % 2 else "sell"

    def v1_order() -> object:
        body = {"symbol": "SOL-USD", "side": side(), "type": "market", "qty": "0.01",
                "client_order_id": uuid.uuid4().hex}  # fmt: skip
        response = client.post("/api/v1/orders", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response

    def v2_order() -> object:
        body = {"symbol": "SOL/USD", "side": side(), "type": "market", "qty": 0.01, "time_in_force": "gtc"}
        response = client.post("/v2/orders", body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response

    def getter(path: str) -> Callable[[], object]:
        def get() -> object:
            response = client.get(path)
            assert response.status_code == 200, response.content
            return response

        return get

    pairs = [
        ("market order", v1_order, v2_order),
        ("list orders", getter("/api/v1/orders"), getter("/v2/orders?status=all")),
        ("account / portfolio", getter("/api/v1/portfolio"), getter("/v2/account")),
        ("positions (spot holdings)", getter("/api/v1/portfolio"), getter("/v2/positions")),
    ]
    for label, v1, v2 in pairs:
        v1(), v2()  # warm
        best = {"v1": float("inf"), "v2": float("inf")}
        for _ in range(REPEATS):
            for name, call in (("v1", v1), ("v2", v2)):
                started = time.process_time()
                for _ in range(N):
                    call()
                best[name] = min(best[name], (time.process_time() - started) / N * 1e6)
        print(
            f"{label:27}: /api/v1 {best['v1']:7.0f} us CPU, {_statements(v1)} statement(s) | "
            f"/v2 {best['v2']:7.0f} us CPU, {_statements(v2)} statement(s) | /v2 - /api/v1 "
            f"{best['v2'] - best['v1']:+6.0f} us"
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    # PRICE_STALE_SECONDS: one fixed index for the whole run
    with scratch_database("solpaper_bench_alpaca", ALPACA_RATE_LIMIT="1000000/60", PRICE_STALE_SECONDS="3600"):
        _run()


if __name__ == "__main__":
    main()
