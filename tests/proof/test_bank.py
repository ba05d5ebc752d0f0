"""Bank test (after Jepsen's): money is never created, lost or double-counted under load.

20 wallets, 8 client threads doing mixed buys, sells, perp orders (net positions: an order opens,
increases, reduces, closes or flips the trader's one position) and full or partial closes over
HTTP against two web tiers (nginx + gunicorn + daphne, as `make run` serves), a ticker thread
moving the index (random walk with jumps, so positions get liquidated by the engine), and a reader
taking a consistent snapshot (REPEATABLE READ) every 100 ms.

Every snapshot: per asset the sum over all accounts (users, fees, house, insurance) equals minus
the grants account, i.e. exactly what was issued; no user balance is negative or has locked > total;
every balance equals the sum of its ledger entries. Requests that time out are resolved afterwards
by client_order_id: none lost, none doubled. Replay with PROOF_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import psycopg
import pytest
from django.db.models import Count

from tests.portfolio.helpers import assert_books_ok
from tests.proof.conftest import proof_int
from tests.proof.stack import WebTier, psycopg_dsn
from tests.proof.test_faults import http_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEED = int(os.environ.get("PROOF_SEED", "20261121"))
USERS = 20
THREADS = 8
CLIENT_TIMEOUT = 3.0  # seconds; a request past it is "timed out" and resolved afterwards

SNAPSHOT_SQL = {
    "sums": "SELECT b.asset, a.kind = 'system' AND a.code = 'grants', sum(b.total) "
    "FROM portfolio_balance b JOIN portfolio_ledgeraccount a ON a.id = b.account_id GROUP BY 1, 2",
    "negative": "SELECT count(*) FROM portfolio_balance WHERE NOT allow_negative AND "
    "(total < 0 OR locked < 0 OR locked > total)",
    "drift": "WITH e AS (SELECT account_id, asset, sum(amount) AS s FROM portfolio_ledgerentry GROUP BY 1, 2), "
    "b AS (SELECT account_id, asset, sum(total) AS s FROM portfolio_balance GROUP BY 1, 2) "
    "SELECT count(*) FROM b FULL JOIN e USING (account_id, asset) WHERE coalesce(b.s, 0) <> coalesce(e.s, 0)",
}


def snapshot(conn) -> dict:
    """One consistent view of the books (a single REPEATABLE READ transaction)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        sums = conn.execute(SNAPSHOT_SQL["sums"]).fetchall()
        negative = conn.execute(SNAPSHOT_SQL["negative"]).fetchone()[0]
        drift = conn.execute(SNAPSHOT_SQL["drift"]).fetchone()[0]
    issued: dict[str, Decimal] = {}
    held: dict[str, Decimal] = {}
    for asset, is_grants, total in sums:
        (issued if is_grants else held)[asset] = (issued if is_grants else held).get(asset, Decimal(0)) + total
    return {
        "held": held,
        "issued": {asset: -value for asset, value in issued.items()},
        "negative": negative,
        "drift": drift,
    }


def test_bank_books_stay_exact_under_concurrent_trading(figures, capsys):
    """Under concurrent trading, ticks and liquidations every snapshot balances exactly, nothing is
    negative, balances equal their entries; every acknowledged order/position exists once, every
    timed-out one exists at most once and a retry replays it; reconcile is clean at the end."""
    from pricing.aggregate import IndexPrice
    from pricing.services import price_tick_accept

    seconds = proof_int("PROOF_BANK_SECONDS", 20, 180)
    price = {"value": Decimal("150.00")}

    def tick(value: Decimal) -> None:
        index = IndexPrice(
            price=value, bid=None, ask=None, sources=("pyth", "coinbase"), dispersion=Decimal("0.001"), usd_prices={}
        )
        price_tick_accept(index=index, mode="live", computed_at=datetime.now(timezone.utc))

    tick(price["value"])
    env = {"AUTH_RATE_NONCE_IP": "10000/60", "AUTH_RATE_VERIFY_IP": "10000/60"}
    servers = [WebTier(**env).start(), WebTier(**env).start()]
    stop = threading.Event()
    lock = threading.Lock()
    counts: Counter = Counter()
    violations: list = []
    sent: list[dict] = []  # every request: kind, user index, coid, body, status/None(timeout), id
    try:
        users = [http_sign_in(servers[i % 2].url) for i in range(USERS)]
        open_positions: dict[int, list[str]] = {i: [] for i in range(USERS)}  # net: at most one each

        def client_loop(worker: int) -> None:
            local = random.Random(SEED * 100 + worker)
            base = servers[worker % 2].url
            n = 0
            with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT) as http:
                while not stop.is_set():
                    n += 1
                    who = local.randrange(USERS)
                    coid = f"w{worker}-{n}"
                    kind = local.choices(["buy", "sell", "open", "close"], weights=[3, 2, 3, 2])[0]
                    with lock:
                        mine = list(open_positions[who])
                    if kind == "close" and not mine:
                        kind = "open"
                    if kind in ("buy", "sell"):
                        body = {
                            "symbol": "SOL-USD",
                            "side": kind,
                            "type": "market",
                            "qty": str(Decimal(local.randint(1, 400)) / 100),
                            "client_order_id": coid,
                        }
                        url = "/api/v1/orders"
                    elif kind == "open":
                        body = {
                            "symbol": "SOL-PERP",
                            "side": local.choice(["long", "short"]),
                            "margin": str(local.randint(10, 400)),
                            "leverage": str(local.choice([2, 5, 10, 20])),
                            "client_order_id": coid,
                        }
                        url = "/api/v1/positions"
                    else:
                        body = {"client_order_id": coid}
                        if local.random() < 0.5:  # a partial close (a lot, or one the rules refuse)
                            body["qty"] = str(Decimal(local.randint(1, 3000)) / 1000)
                        url = f"/api/v1/positions/{local.choice(mine)}/close"
                    record = {"kind": kind, "who": who, "coid": coid, "url": url, "body": body, "status": None}
                    try:
                        response = http.post(url, json=body, headers=users[who])
                        record["status"] = response.status_code
                        if response.status_code >= 500 and response.status_code != 503:
                            violations.append(("5xx", url, response.text[:200]))
                        if response.status_code == 201:
                            record["id"] = response.json()["id"]
                            if kind == "open":
                                with lock:
                                    open_positions[who] = [record["id"]] if response.json()["status"] == "open" else []
                        if kind == "close" and response.status_code == 200:
                            record["id"] = response.json()["position"]["id"]
                        if kind == "close" and (
                            response.status_code in (404, 409)
                            or (response.status_code == 200 and response.json()["position"]["status"] != "open")
                        ):
                            with lock:
                                target = url.split("/")[4]
                                if target in open_positions[who]:
                                    open_positions[who].remove(target)
                    except httpx.TimeoutException:
                        counts["timeouts"] += 1
                    except httpx.HTTPError as exc:
                        violations.append(("transport", url, repr(exc)))
                    with lock:
                        sent.append(record)
                        counts[f"{kind}:{record['status']}"] += 1

        def ticker() -> None:
            from django.db import connection

            local = random.Random(SEED + 1)
            try:
                while not stop.is_set():
                    step = Decimal(local.randint(-150, 150)) / 10000  # up to +-1.5 %
                    if local.random() < 0.08:
                        step = Decimal(local.choice([-1, 1]) * local.randint(400, 900)) / 10000  # a jump
                    value = min(max(price["value"] * (1 + step), Decimal("90")), Decimal("250")).quantize(
                        Decimal("0.01")
                    )
                    price["value"] = value
                    tick(value)
                    counts["ticks"] += 1
                    time.sleep(0.2)
            finally:
                connection.close()

        def reader() -> None:
            with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
                while not stop.is_set():
                    view = snapshot(conn)
                    counts["snapshots"] += 1
                    if view["held"] != view["issued"] or view["negative"] or view["drift"]:
                        violations.append(("snapshot", view))
                    time.sleep(0.1)

        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(THREADS)]
        threads += [threading.Thread(target=ticker), threading.Thread(target=reader)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive(), "a worker hung past its bounded timeout"

        # Resolve what timed out: look the client_order_id up, then retry once; it exists once.
        from trading.models import Order, Position, PositionOrder

        def model_of(record):  # a perp order or close is recorded as a PositionOrder under its id
            return Order if record["kind"] in ("buy", "sell") else PositionOrder

        resolved = Counter()
        for record in [r for r in sent if r["status"] is None]:
            model = model_of(record)
            before = model.objects.filter(client_order_id=record["coid"]).count()
            resolved["committed" if before else "not_committed"] += 1
            retry = httpx.post(
                servers[0].url + record["url"], json=record["body"], headers=users[record["who"]], timeout=30
            )
            if before:
                assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
            assert model.objects.filter(client_order_id=record["coid"]).count() <= 1
        # None lost: every acknowledged order/position exists, under its id, exactly once.
        acked = [r for r in sent if r.get("id")]
        for record in acked:
            if record["kind"] in ("buy", "sell"):
                rows = Order.objects.filter(client_order_id=record["coid"]).values_list("id", flat=True)
            else:  # the position the order or close answered with
                rows = PositionOrder.objects.filter(client_order_id=record["coid"]).values_list(
                    "position_id", flat=True
                )
            assert list(rows) == [uuid.UUID(record["id"])]
        # Net positions: never two open positions of one trader on a market.
        assert not Position.objects.filter(status="open").values("user_id").annotate(n=Count("id")).filter(n__gt=1)
        actions = Counter(PositionOrder.objects.values_list("action", flat=True))
        # None doubled: one fill ledger transaction per filled order.
        from portfolio.models import LedgerTransaction

        doubled = (
            LedgerTransaction.objects.filter(reference_type="order")
            .values("reference_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        assert doubled == 0
        final = snapshot(psycopg.connect(psycopg_dsn(), autocommit=True))
        liquidated = Position.objects.filter(status="liquidated").count()
    finally:
        stop.set()
        for server in servers:
            server.stop()

    assert violations == [], violations[:5]
    assert final["held"] == final["issued"] and not final["negative"] and not final["drift"]
    assert_books_ok()
    summary = {
        "seed": SEED,
        "seconds": seconds,
        "requests": len(sent),
        "acknowledged": len(acked),
        "timeouts": counts["timeouts"],
        "timeouts_committed": resolved["committed"],
        "timeouts_not_committed": resolved["not_committed"],
        "ticks": counts["ticks"],
        "liquidated": liquidated,
        "perp_orders": dict(sorted(actions.items())),
        "snapshots": counts["snapshots"],
        "violations": len(violations),
        "outcomes": dict(sorted((k, v) for k, v in counts.items() if ":" in k)),
    }
    figures.update(summary)
    with capsys.disabled():
        print(f"\nbank test: {summary}")
    assert counts["snapshots"] >= seconds  # the reader kept reading
    assert len(acked) > 0 and counts["ticks"] > 0
    assert actions["increase"] and actions["reduce"] and actions["close"]  # the netting paths were exercised
