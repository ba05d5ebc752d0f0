"""CPU per authenticated request: API-key headers, Bearer with an API-key secret, and a whole
DRF request (``GET /api/v1/auth/me`` through the test client: middleware, authentication,
permission, view, renderer; the test client leaves out Django's per-request connection check).
One figure wraps ``authenticate()`` in ``close_old_connections()`` as every request on a kept
connection is (``core.dbthreads``, ``request_started``): with ``CONN_HEALTH_CHECKS`` it pays the
``SELECT 1`` that check sends.

Run: ``.venv/bin/python bench/bench_auth.py`` (or ``make bench``). A scratch PostgreSQL database
is created, migrated and dropped (``BENCH_PG_ADMIN_URL``, default postgres@127.0.0.1:5432);
``BENCH_AUTH_N`` calls per figure (2000), best of ``BENCH_REPEATS`` rounds (3). Figures are
``time.process_time`` of this process (client and server share it for the DRF request; the
PostgreSQL server's CPU is not counted), plus the statements one call sends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import scratch_database, statements_sent  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
N = int(os.environ.get("BENCH_AUTH_N", "2000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def _cpu_us_per_call(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(N):
            call()
        best = min(best, time.process_time() - started)
    return best / N * 1e6


def _statements(call: Callable[[], object]) -> int:
    """How many statements one call sends through the cursor."""
    return len(statements_sent(call))


def _server_statements(call: Callable[[], object], database: str, calls: int = 500) -> float:
    """Statements the server ran per call, counted by PostgreSQL itself (``xact_commit``: every
    statement outside a transaction is one), so it includes what Django sends outside a cursor."""
    import psycopg
    from django.db import connection

    def committed() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.5)  # the flush happens when the backend goes idle
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            row = admin.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
        return int(row[0])

    before = committed()
    for _ in range(calls):
        call()
    return (committed() - before - 1) / calls  # less the flush request of the second reading


def _run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import close_old_connections, connection
    from django.test import Client, RequestFactory
    from rest_framework.request import Request

    from accounts.authentication import ApiKeyHeaderAuthentication, BearerAuthentication
    from accounts.models import User
    from accounts.services import api_key_create

    call_command("migrate", "--noinput", verbosity=0)
    user = User.objects.create_user(username="bench-auth", address="BenchAuth1111111111111111111111111111111111")
    key, secret = api_key_create(user=user, name="bench", scopes=["read", "trade"])
    factory = RequestFactory()
    headers = {"HTTP_APCA_API_KEY_ID": key.key_id, "HTTP_APCA_API_SECRET_KEY": secret}
    header_request = Request(factory.get("/api/v1/auth/me", **headers))
    bearer_request = Request(factory.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {secret}"))
    client = Client(**headers)

    def header() -> object:
        return ApiKeyHeaderAuthentication().authenticate(header_request)

    def bearer() -> object:
        return BearerAuthentication().authenticate(bearer_request)

    def kept_connection() -> object:  # what core.dbthreads (and request_started/finished) do
        close_old_connections()
        try:
            return ApiKeyHeaderAuthentication().authenticate(header_request)
        finally:
            close_old_connections()

    def whole() -> object:
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 200, response.content
        return response

    for label, call in (
        ("API-key headers, authenticate()", header),
        ("Bearer <API-key secret>, authenticate()", bearer),
        ("API-key headers, authenticate() between close_old_connections()", kept_connection),
        ("GET /api/v1/auth/me with API-key headers", whole),
    ):
        call()  # warm: the once-a-minute last_used_at touch, connection, caches
        print(f"{label}: {_cpu_us_per_call(call):7.1f} us CPU per call, {_statements(call)} statement(s)")
    server = _server_statements(kept_connection, connection.settings_dict["NAME"])
    print(f"statements the server ran per authenticate() between close_old_connections(): {server:.2f}")


def main() -> None:
    with scratch_database("solpaper_bench_auth"):
        _run()


if __name__ == "__main__":
    main()
