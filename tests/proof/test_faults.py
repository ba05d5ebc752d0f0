"""Fault injection on the real stack: crashes, lost connections, Redis and price-feed outages.

Web processes are real web tiers (nginx + gunicorn + daphne, as `make run` serves) on the test
database; Redis outages use a private redis-server started (and killed) by the test. The shared
PostgreSQL and Redis are never stopped.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import psycopg
import pytest
from solders.keypair import Keypair

from tests.portfolio.helpers import assert_books_ok
from tests.proof.stack import (
    PrivateRedis,
    RowLockPause,
    WebTier,
    cache_for,
    psycopg_dsn,
    web_tier,
)
from tests.proof.stack import (
    test_database_url as database_url,
)
from tests.trading.helpers import order_body, set_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TIMEOUT = 15  # seconds: a bounded guard against hangs, not a timing assertion


def http_sign_in(base: str) -> dict[str, str]:
    keypair = Keypair()
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        issued = client.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
        signature = str(keypair.sign_message(issued["message"].encode()))
        response = client.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def place(base: str, headers: dict, coid: str, timeout: float = TIMEOUT) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/orders", json=order_body(client_order_id=coid), headers=headers, timeout=timeout)


def orders_with(coid: str) -> int:
    from trading.models import Order

    return Order.objects.filter(client_order_id=coid).count()


# The pause holds a fill inside its transaction on purpose: longer than any command's lock timeout.
PAUSED = {"TRADING_LOCK_TIMEOUT_MS": "120000"}


@pytest.fixture
def web():
    with web_tier(**PAUSED) as server:
        yield server


def _warm_up(base: str) -> None:
    """One fill so the system fee rows exist (the pause locks them)."""
    assert place(base, http_sign_in(base), "warm-1").status_code == 201


def test_kill_9_of_the_web_process_mid_fill_leaves_no_partial_transaction(figures):
    """A fill paused inside its transaction (fee rows held by another connection) when the web
    process gets SIGKILL: nothing of it commits (no order, no ledger rows, balances as before);
    a retry with the same client_order_id on a new process fills exactly once."""
    set_price(Decimal("150"))
    server = WebTier(**PAUSED).start()
    try:
        _warm_up(server.url)
        headers = http_sign_in(server.url)
        pause = RowLockPause()
        pause.hold()
        outcome: dict = {}

        def request():
            try:
                outcome["response"] = place(server.url, headers, "crash-1")
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=request)
        thread.start()
        blocked = pause.wait_for_blocked()
        server.kill9()
        pause.release()
        thread.join(TIMEOUT)
        assert "error" in outcome, outcome  # the client saw the connection die, no answer
        # The dead client's backend ends without committing.
        deadline = time.monotonic() + TIMEOUT
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (blocked,)).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        pause.close()
        assert orders_with("crash-1") == 0
        assert_books_ok()
    finally:
        server.stop()
    set_price(Decimal("150"))  # fresh again: a loaded machine can take longer than the staleness budget
    with web_tier() as again:
        first = place(again.url, headers, "crash-1")
        second = place(again.url, headers, "crash-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers, first.text
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert orders_with("crash-1") == 1
    assert_books_ok()
    figures.update(killed_mid_fill=1, orders_after_retry=orders_with("crash-1"))


def test_terminated_database_backend_answers_503_with_retry_after_and_recovers(web, figures):
    """pg_terminate_backend on the connection serving a paused fill: the client gets 503
    database_unavailable with Retry-After (never a 500, within the timeout), nothing is stored,
    and the same client_order_id then fills exactly once on the same process."""
    set_price(Decimal("150"))
    _warm_up(web.url)
    headers = http_sign_in(web.url)
    pause = RowLockPause()
    pause.hold()
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(response=place(web.url, headers, "term-1")))
    thread.start()
    try:
        pids = pause.wait_for_blocked()
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        thread.join(TIMEOUT)
    finally:
        pause.release()
        pause.close()
    response = outcome["response"]
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert orders_with("term-1") == 0
    retried = place(web.url, headers, "term-1")
    assert retried.status_code == 201, retried.text
    assert orders_with("term-1") == 1
    assert_books_ok()
    figures.update(terminated_backends=len(pids), status=response.status_code)


def test_connections_killed_between_requests_cost_at_most_one_503_each(figures):
    """Every PostgreSQL connection a web process keeps is terminated while idle (what a database
    restart does to them). Kept connections are not pinged before each request, so an order that
    lands on a dead one answers 503 database_unavailable with Retry-After (never a 500) and that
    connection is dropped after the request; at most one such answer per kept connection, then
    orders fill again on the same process, and every refused order retried fills exactly once."""
    from core.dbthreads import DB_THREADS

    set_price(Decimal("150"))
    name = f"faults-idle-{uuid.uuid4().hex[:8]}"
    server = WebTier()
    server.env.update(DATABASE_URL=f"{database_url()}?application_name={name}")
    server.start()
    try:
        headers = http_sign_in(server.url)
        set_price(Decimal("150"))  # fresh after the server's start (slow on a loaded machine)
        assert place(server.url, headers, "idle-0").status_code == 201
        mine = "FROM pg_stat_activity WHERE application_name = %s"
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            killed = conn.execute(f"SELECT count(pg_terminate_backend(pid)) {mine}", (name,)).fetchone()[0]
            deadline = time.monotonic() + TIMEOUT
            while conn.execute(f"SELECT count(*) {mine}", (name,)).fetchone()[0]:  # gone, not dying
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert killed >= 1
        set_price(Decimal("150"))  # fresh again: on a loaded machine the setup can outlive the staleness budget
        answers = [place(server.url, headers, f"idle-{n}") for n in range(1, DB_THREADS + 4)]
        refused = [n + 1 for n, r in enumerate(answers) if r.status_code != 201]
        for response in answers:
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                assert response.json()["code"] == "database_unavailable" and int(response.headers["Retry-After"]) >= 1
        assert len(refused) <= DB_THREADS and answers[-1].status_code == 201, [r.status_code for r in answers]
        for n in refused:
            assert place(server.url, headers, f"idle-{n}").status_code == 201
    finally:
        server.stop()
    assert all(orders_with(f"idle-{n}") == 1 for n in range(DB_THREADS + 4))
    assert_books_ok()
    figures.update(killed_connections=killed, refused_after_kill=len(refused))


def test_redis_outage_stops_fills_keeps_reads_and_recovers(figures):
    """With the web process on a private Redis that is killed: orders and position opens are 503
    price_unavailable (nothing filled), portfolio, orders and ledger are still served from
    PostgreSQL; once Redis is back with a fresh price, the same client_order_id fills once."""
    from pricing.selectors import LATEST_PRICE_KEY

    redis = PrivateRedis().start()
    try:
        with web_tier(redis_url=redis.url) as server:
            price_cache = cache_for(redis.url)

            def fresh_price():
                price_cache.set(
                    LATEST_PRICE_KEY,
                    {
                        "symbol": "SOL-USD",
                        "price": "150",
                        "bid": None,
                        "ask": None,
                        "sources": ["pyth", "coinbase"],
                        "computed_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                        "mode": "live",
                    },
                    timeout=300,
                )

            fresh_price()
            headers = http_sign_in(server.url)
            assert place(server.url, headers, "r-1").status_code == 201
            redis.stop()
            refused = place(server.url, headers, "r-2")
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "price_unavailable"
            assert "Retry-After" in refused.headers
            opened = httpx.post(
                f"{server.url}/api/v1/positions",
                json={"symbol": "SOL-PERP", "side": "long", "margin": "10", "leverage": "2", "client_order_id": "rp"},
                headers=headers,
                timeout=TIMEOUT,
            )
            assert opened.status_code == 503, opened.text
            reads = {
                path: httpx.get(f"{server.url}{path}", headers=headers, timeout=TIMEOUT)
                for path in ("/api/v1/portfolio", "/api/v1/orders", "/api/v1/ledger", "/api/v1/trades")
            }
            assert {path: r.status_code for path, r in reads.items()} == dict.fromkeys(reads, 200), {
                p: r.text[:200] for p, r in reads.items()
            }
            assert len(reads["/api/v1/orders"].json()["results"]) == 1
            assert orders_with("r-2") == 0
            redis.start()
            fresh_price()
            deadline = time.monotonic() + TIMEOUT
            while (retried := place(server.url, headers, "r-2")).status_code == 503:
                assert time.monotonic() < deadline, retried.text
                time.sleep(0.2)
            assert retried.status_code == 201, retried.text
            assert orders_with("r-2") == 1
    finally:
        redis.stop()
    assert_books_ok()
    figures.update(refused_during_outage=2, reads_served=len(reads))


def test_channel_layer_failure_never_rolls_back_a_fill(settings, api_client, figures):
    """With the channel layer pointing at a dead Redis, a fill still commits (201, ledger
    balanced) and its event is stored for resume; the publish failure is only logged."""
    from channels.layers import channel_layers

    from realtime.models import UserEvent
    from tests.conftest import closed_port
    from tests.portfolio.helpers import authed_client, make_user

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{closed_port()}/0", "socket_connect_timeout": 1}]},
        }
    }
    channel_layers.backends.clear()
    try:
        set_price(Decimal("150"))
        user = make_user()
        response = authed_client(user).post("/api/v1/orders", order_body(client_order_id="cl-1"), format="json")
        assert response.status_code == 201, response.content
        assert UserEvent.objects.filter(user=user, type="order_fill").count() == 1
    finally:
        channel_layers.backends.clear()
    assert_books_ok()
    figures.update(fills_committed_with_dead_layer=1)


def test_price_feed_outage_goes_stale_pauses_liquidations_and_catches_up(figures):
    """When the feed stops, orders answer 503 price_stale once the record is older than the
    budget, and a tick that old liquidates nothing; the first fresh tick liquidates the position."""
    from django.conf import settings

    from tests.portfolio.helpers import authed_client, make_user
    from tests.trading.position_helpers import open_body
    from trading.models import Position
    from trading.services.liquidation import liquidation_run

    set_price(Decimal("150"))
    user = make_user()
    client = authed_client(user)
    opened = client.post("/api/v1/positions", open_body(client_order_id="feed-1", leverage="20"), format="json")
    assert opened.status_code == 201, opened.content
    liq = Decimal(opened.json()["liquidation_price"])
    crash = (liq * Decimal("0.9")).quantize(Decimal("0.01"))
    old = settings.PRICE_STALE_SECONDS + 5
    set_price(crash, age_seconds=old)
    stale = client.post("/api/v1/orders", order_body(client_order_id="feed-o"), format="json")
    assert stale.status_code == 503 and stale.json()["code"] == "price_stale"
    assert "Retry-After" in stale
    paused = liquidation_run(price=crash, computed_at=datetime.now(timezone.utc) - timedelta(seconds=old))
    assert paused.liquidated == []
    assert Position.objects.get(user=user).status == "open"
    set_price(crash)
    caught_up = liquidation_run(price=crash, computed_at=datetime.now(timezone.utc))
    assert len(caught_up.liquidated) == 1
    assert Position.objects.get(user=user).status == "liquidated"
    again = liquidation_run(price=crash, computed_at=datetime.now(timezone.utc))
    assert again.liquidated == []
    assert_books_ok()
    figures.update(liquidated_after_recovery=len(caught_up.liquidated))
