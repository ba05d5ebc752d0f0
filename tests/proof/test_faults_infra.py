"""Infrastructure faults on real processes: PostgreSQL stopped under load, a Celery worker
killed with SIGKILL in the middle of a liquidation.

The shared PostgreSQL (5432) and Redis (6379) are never stopped: the outage runs on a cluster of
the test's own (``initdb`` + ``pg_ctl`` on a free port, ``stack.PrivatePostgres``) and the worker
uses a private redis-server as broker. Every process started here is stopped by its pid.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import psycopg
import pytest
from django.conf import settings
from solders.keypair import Keypair

from tests.portfolio.helpers import assert_books_ok
from tests.proof.conftest import PG_OUTAGE_CLIENTS, PG_OUTAGE_SECONDS, PG_STOP_MODE
from tests.proof.stack import (
    CeleryWorker,
    PrivatePostgres,
    PrivateRedis,
    SystemRowsPause,
    WebTier,
    cache_for,
    fresh_price_record,
    psycopg_dsn,
)
from tests.trading.helpers import order_body

pytestmark = [pytest.mark.slow]

# A request that takes longer than the database connect timeout plus a margin has hung: the
# client gives up there, and the test asserts that never happened.
CLIENT_TIMEOUT = settings.PREFLIGHT_TIMEOUT_SECONDS + 3
TIMEOUT = 30  # seconds: bounded waits, not timing assertions
MAX_CALLS_PER_CLIENT = 5_000  # bounds each load loop in count as well as time


@dataclass
class Call:
    client: int
    kind: str  # "order" | "portfolio" | "page"
    started: float
    ended: float
    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    error: str | None = None  # client-side: timeout or connection error
    coid: str | None = None


def browser_sign_in(base: str) -> tuple[dict[str, str], httpx.Client]:
    """A wallet signed in over HTTP: its Bearer header, and a client holding the session cookie."""
    keypair = Keypair()
    browser = httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT)
    issued = browser.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
    signature = str(keypair.sign_message(issued["message"].encode()))
    response = browser.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
    assert response.status_code == 200, response.text
    assert browser.cookies.get("sessionid"), "sign-in set no session cookie"
    return {"Authorization": f"Bearer {response.json()['token']}"}, browser


@pytest.fixture
def private_pg():
    """A migrated PostgreSQL cluster of the test's own; destroyed (stopped, files removed) after."""
    pg = PrivatePostgres()
    try:
        pg.init()
        migrated = pg.manage("migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        yield pg
    finally:
        pg.destroy()


def test_postgres_stopped_under_load_answers_503_with_retry_after_and_recovers(private_pg, figures):
    """PostgreSQL stopped (``pg_ctl stop -m fast``, or ``PROOF_PG_STOP_MODE``) while clients place orders, read their
    portfolio and load a page with their session cookie: every request that starts and ends
    during the outage answers 503 ``database_unavailable`` with ``Retry-After`` (API and page),
    none answers 500, none outlives the client timeout; once PostgreSQL is back, orders fill
    again with no restart of the web process, every 503'd order retried with its
    client_order_id exists exactly once, and the books reconcile."""
    pg = private_pg
    prefix = f"proof-pg-{uuid.uuid4().hex[:8]}"
    server = WebTier()
    server.env.update(DATABASE_URL=pg.url, CACHE_KEY_PREFIX=prefix, CHANNEL_LAYER_PREFIX=prefix)
    stop_ticker, stop_load = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    calls: list[Call] = []
    sessions: list[tuple[dict[str, str], httpx.Client]] = []
    lock = threading.Lock()
    try:
        server.start()
        log_tail = server.stderr_tail
        from django.core.cache.backends.redis import RedisCache

        from pricing.selectors import LATEST_PRICE_KEY

        price_cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": prefix})

        def ticker() -> None:  # a live feed: the price stays fresh through the whole outage
            while not stop_ticker.is_set():
                try:
                    price_cache.set(LATEST_PRICE_KEY, fresh_price_record(), timeout=300)
                except Exception:  # a slow Redis under load must not end the feed
                    pass
                stop_ticker.wait(0.5)

        threads.append(threading.Thread(target=ticker, name="ticker"))
        threads[-1].start()
        sessions += [browser_sign_in(server.url) for _ in range(PG_OUTAGE_CLIENTS)]

        def drive(index: int) -> None:
            headers, browser = sessions[index]
            with httpx.Client(base_url=server.url, headers=headers, timeout=CLIENT_TIMEOUT) as api:
                for n in range(MAX_CALLS_PER_CLIENT):
                    if stop_load.is_set():
                        return
                    coid = f"pg{index}-{n}"
                    order = order_body(client_order_id=coid, qty="0.01")
                    for kind, session, method, path, extra in (
                        ("order", api, "POST", "/api/v1/orders", {"json": order}),
                        ("portfolio", api, "GET", "/api/v1/portfolio", {}),
                        ("page", browser, "GET", "/trade/", {"headers": {"Accept": "text/html"}}),
                    ):
                        call = Call(client=index, kind=kind, started=time.monotonic(), ended=0.0)
                        call.coid = coid if kind == "order" else None
                        try:
                            response = session.request(method, path, **extra)
                            call.status = response.status_code
                            call.retry_after = response.headers.get("Retry-After")
                            if response.headers.get("content-type", "").startswith("application/json"):
                                call.code = response.json().get("code") if response.status_code >= 400 else None
                            elif "database_unavailable" in response.text:
                                call.code = "database_unavailable"
                        except httpx.HTTPError as exc:
                            call.error = f"{type(exc).__name__}: {exc}"
                        call.ended = time.monotonic()
                        with lock:
                            calls.append(call)
                    stop_load.wait(0.05)

        for index in range(PG_OUTAGE_CLIENTS):
            threads.append(threading.Thread(target=drive, args=(index,), name=f"client-{index}"))
            threads[-1].start()

        def filled_since(moment: float) -> set[int]:
            with lock:
                return {c.client for c in calls if c.kind == "order" and c.status == 201 and c.started >= moment}

        deadline = time.monotonic() + TIMEOUT
        while filled_since(0) != set(range(PG_OUTAGE_CLIENTS)):  # every client filled before the fault
            assert time.monotonic() < deadline, Counter((c.kind, c.status, c.code) for c in calls)
            time.sleep(0.1)

        pg.stop(PG_STOP_MODE)
        stopped = time.monotonic()
        time.sleep(PG_OUTAGE_SECONDS)
        restarting = time.monotonic()
        pg.start()
        started = time.monotonic()
        deadline = started + TIMEOUT
        while filled_since(started) != set(range(PG_OUTAGE_CLIENTS)):  # every client fills again
            assert time.monotonic() < deadline, Counter((c.kind, c.status, c.code) for c in calls[-50:])
            time.sleep(0.05)
        with lock:
            recovered = min(c.ended for c in calls if c.kind == "order" and c.status == 201 and c.started >= started)
        stop_load.set()
        for thread in threads[1:]:
            thread.join(TIMEOUT)

        # Never a client timeout or dropped connection, never a 5xx other than 503
        # database_unavailable (the ticker keeps the price fresh, so no price_* refusal).
        failed = [c for c in calls if c.error or c.status is None]
        assert failed == [], failed[:5]
        wrong = [c for c in calls if c.status >= 500 and (c.status != 503 or c.code != "database_unavailable")]
        assert wrong == [], (wrong[:5], list(log_tail)[-20:])
        assert all(c.retry_after and int(c.retry_after) >= 1 for c in calls if c.status == 503)
        # Inside the outage: everything 503 + Retry-After, orders, portfolio and page alike.
        outage = [c for c in calls if c.started >= stopped and c.ended <= restarting]
        assert {c.kind for c in outage} == {"order", "portfolio", "page"}, Counter(c.kind for c in outage)
        assert {(c.status, c.code) for c in outage} == {(503, "database_unavailable")}, Counter(
            (c.kind, c.status, c.code) for c in outage
        )
        slowest = max(c.ended - c.started for c in outage)
        assert slowest < CLIENT_TIMEOUT  # no hang (the client would have raised anyway)

        # A 503'd order may or may not have committed (a COMMIT whose answer was lost): its retry
        # with the same client_order_id fills it or replays it, and it exists exactly once.
        refused = sorted({(c.client, c.coid) for c in calls if c.kind == "order" and c.status == 503})
        accepted = {(c.client, c.coid) for c in calls if c.kind == "order" and c.status == 201}

        def retry(refusal: tuple[int, str]) -> httpx.Response:
            client, coid = refusal
            return httpx.post(
                f"{server.url}/api/v1/orders",
                json=order_body(client_order_id=coid, qty="0.01"),
                headers=sessions[client][0],
                timeout=CLIENT_TIMEOUT,
            )

        with ThreadPoolExecutor(max_workers=PG_OUTAGE_CLIENTS) as pool:
            retried = list(pool.map(retry, refused))
        assert {r.status_code for r in retried} <= {201}, next(r.text for r in retried if r.status_code != 201)
        wanted = sorted(coid for _client, coid in accepted | set(refused))
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            rows = dict(
                conn.execute(
                    "SELECT client_order_id, count(*) FROM trading_order WHERE client_order_id = ANY(%s) GROUP BY 1",
                    (wanted,),
                ).fetchall()
            )
        assert rows == dict.fromkeys(wanted, 1), {k: v for k, v in rows.items() if v != 1}
        reconciled = pg.manage("reconcile")
        assert reconciled.returncode == 0, reconciled.stdout[-3000:] + reconciled.stderr[-3000:]
    finally:
        stop_load.set()
        stop_ticker.set()
        for thread in threads:
            thread.join(TIMEOUT)
        for _headers, browser in sessions:
            browser.close()
        server.stop()

    during = Counter(f"{c.kind}:{c.status}" for c in outage)
    figures.update(
        stop_mode=PG_STOP_MODE,
        outage_seconds=round(restarting - stopped, 1),
        requests_total=len(calls),
        during_outage=dict(during),
        slowest_in_outage_s=round(slowest, 3),
        recovery_seconds=round(recovered - started, 2),
        refused_orders_retried=len(refused),
    )
    print(
        f"\nPostgreSQL outage ({PG_STOP_MODE}) {restarting - stopped:.1f} s: {dict(during)}; slowest {slowest:.3f} s; "
        f"orders fill {recovered - started:.2f} s after restart; {len(refused)} refused orders retried once"
    )


# --- Celery worker killed mid-liquidation ------------------------------------------------------


def _liquidation_rows(position_id) -> dict[str, int]:
    from portfolio.models import LedgerEntry, LedgerReason, LedgerTransaction
    from trading.models import PositionEvent, PositionEventKind

    txns = LedgerTransaction.objects.filter(
        reason=LedgerReason.LIQUIDATION, reference_type="position", reference_id=str(position_id)
    )
    return {
        "ledger_txns": txns.count(),
        "house_pnl_entries": LedgerEntry.objects.filter(txn__in=txns, account__code="house").count(),
        "events": PositionEvent.objects.filter(position_id=position_id, kind=PositionEventKind.LIQUIDATION).count(),
    }


def _broker_pending(redis_url: str) -> tuple[int, int]:
    """(messages waiting in the ``celery`` queue, messages delivered but not acknowledged)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        return client.llen("celery"), client.hlen("unacked")
    finally:
        client.close()


@pytest.mark.django_db(transaction=True)
def test_celery_worker_killed_mid_liquidation_liquidates_exactly_once(figures):
    """A real worker runs ``trading.liquidate_on_tick`` and blocks inside the liquidation
    transaction (the position already moved to ``liquidated``, uncommitted; the house/insurance
    rows held by another connection) when it gets SIGKILL: nothing commits. The task is
    ``acks_late``, so its message stays unacknowledged in the broker and a new worker gets it
    again (redelivery once older than the visibility timeout); the rerun liquidates the position;
    a sweep and a repeat of the tick afterwards find nothing. Exactly one terminal transition, one
    liquidation ledger transaction, one house PnL entry, one history row; reconcile clean."""
    from celery import Celery

    from portfolio.models import Asset
    from portfolio.services import balance_lock, system_account_get
    from tests.portfolio.helpers import authed_client, make_user
    from tests.trading.helpers import set_price
    from tests.trading.position_helpers import open_position
    from trading.models import Position
    from trading.services.liquidation import liquidation_run
    from trading.tasks import liquidation_sweep

    set_price(Decimal("150"))
    user = make_user()
    opened = open_position(authed_client(user), client_order_id="wk-1", leverage="20")
    position_id = opened["id"]
    crash = (Decimal(opened["liquidation_price"]) * Decimal("0.9")).quantize(Decimal("0.01"))
    # The system rows the liquidation posts to must exist for the pause to hold them.
    from django.db import transaction

    with transaction.atomic():
        balance_lock(
            keys=[
                (system_account_get(code=code), Asset.USD, shard)
                for code in ("house", "insurance")
                for shard in range(max(1, settings.LEDGER_SYSTEM_SHARDS))
            ]
        )

    redis = PrivateRedis().start()
    workers: list[CeleryWorker] = []
    pause = SystemRowsPause()
    broker = Celery("proof-sender", broker=redis.url, set_as_current=False)  # the project app stays current
    try:
        from pricing.selectors import LATEST_PRICE_KEY

        price_cache = cache_for(redis.url)
        price_cache.set(LATEST_PRICE_KEY, fresh_price_record(str(crash)), timeout=300)
        workers.append(CeleryWorker(redis_url=redis.url).start())
        pause.hold()
        tick_at = datetime.now(timezone.utc)
        tick = (str(crash), tick_at.isoformat())
        broker.send_task("trading.liquidate_on_tick", args=tick)
        blocked = pause.wait_for_blocked(timeout=60)
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            waiting = conn.execute("SELECT query FROM pg_stat_activity WHERE pid = ANY(%s)", (blocked,)).fetchone()[0]
            assert "FOR UPDATE" in waiting and "portfolio_balance" in waiting, waiting  # the ledger's row locks
            with pytest.raises(psycopg.errors.LockNotAvailable):  # the position row: transitioned, uncommitted
                conn.execute("SELECT 1 FROM trading_position WHERE id = %s FOR UPDATE NOWAIT", (position_id,))
        workers[0].kill9()
        assert _broker_pending(redis.url) == (0, 1)  # acks_late: taken, never acknowledged
        pause.release()
        deadline = time.monotonic() + TIMEOUT
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (blocked,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the killed worker's backend did not end"
                time.sleep(0.05)
        pause.close()
        assert Position.objects.get(pk=position_id).status == "open"  # the kill rolled it back
        assert _liquidation_rows(position_id) == {"ledger_txns": 0, "house_pnl_entries": 0, "events": 0}
        assert_books_ok()

        # A new worker redelivers the unacknowledged tick (visibility timeout shortened so the
        # test need not wait the default hour; the stale budget widened to match, else the
        # rerun would be refused as a stale tick and the sweep below would do the work). The
        # tick is still the latest accepted price (no newer tick came meanwhile): a newer one
        # would supersede it and the rerun would rightly do nothing (docs/positions.md).
        price_cache.set(LATEST_PRICE_KEY, fresh_price_record(str(crash), computed_at=tick_at), timeout=300)
        redelivery_started = time.monotonic()
        workers.append(
            CeleryWorker(
                redis_url=redis.url,
                transport_options={
                    "visibility_timeout": 1,
                    "unacked_restore_interval": 1,
                    "unacked_restore_throttle": 1,
                },
                PRICE_STALE_SECONDS="300",
            ).start()
        )
        deadline = time.monotonic() + TIMEOUT
        while Position.objects.get(pk=position_id).status == "open":
            assert time.monotonic() < deadline, "the redelivered tick did not liquidate: " + workers[1].output()
            time.sleep(0.1)
        redelivered_after = time.monotonic() - redelivery_started
        deadline = time.monotonic() + TIMEOUT
        while _broker_pending(redis.url) != (0, 0):  # the rerun acknowledged its message
            assert time.monotonic() < deadline, _broker_pending(redis.url)
            time.sleep(0.1)
        workers[1].stop()
        # The engine again, twice: the sweep (on the latest fresh index) and the same tick once more.
        set_price(crash)
        assert liquidation_sweep() == 0
        assert liquidation_run(price=crash, computed_at=datetime.now(timezone.utc)).liquidated == []
    finally:
        pause.close()
        broker.close()
        for worker in workers:
            worker.stop()
        redis.stop()

    position = Position.objects.get(pk=position_id)
    assert position.status == "liquidated" and position.closed_at is not None
    assert _liquidation_rows(position_id) == {"ledger_txns": 1, "house_pnl_entries": 1, "events": 1}
    assert_books_ok()
    figures.update(workers_killed=1, liquidations=1, redelivered_after_s=round(redelivered_after, 1))
    print(f"\nworker SIGKILLed mid-liquidation: redelivered tick liquidated once after {redelivered_after:.1f} s")


# --- fixed-input regression: database errors outside DRF ---------------------------------------


@pytest.mark.django_db  # the page reads the market registry; only the session's load fails
@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
@pytest.mark.parametrize(("path", "accept"), [("/trade/", "text/html"), ("/admin/", "application/json")])
def test_a_page_whose_session_load_loses_the_database_answers_503_not_500(client, monkeypatch, error, path, accept):
    """A page (outside DRF) that loses the database while loading the session behind
    ``request.user`` answers 503 ``database_unavailable`` with ``Retry-After`` (HTML or JSON as
    asked), never the 500 it was before ``config.middleware.DatabaseUnavailableMiddleware``."""
    from django import db
    from django.contrib.sessions.backends.db import SessionStore

    def lost(self):
        raise getattr(db, error)("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(SessionStore, "load", lost)
    client.cookies["sessionid"] = "a" * 32
    response = client.get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert b"database_unavailable" in response.content
    if accept == "application/json":
        assert response.json()["code"] == "database_unavailable"
