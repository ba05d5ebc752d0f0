"""Concurrency on the real PostgreSQL: row locks keep balances non-negative and ids unique."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection

from pricing.markets import market_get
from tests.portfolio.helpers import assert_books_ok, authed_client, balances_of, make_user
from tests.trading.helpers import order_body, set_price
from trading.execution import plan_market_order
from trading.models import Fill, Order
from trading.services.orders import market_rules, slippage_model

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 50


def _fire(user, bodies: list[dict]) -> list:
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def run(index: int) -> None:
        client = authed_client(user)
        try:
            barrier.wait()
            response = client.post("/api/v1/orders", bodies[index], format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_buys_beyond_the_balance_fill_exactly_the_affordable_number(settings):
    """A user with 1,000 USD fires 50 parallel 0.5 SOL buys (~75 USD each): exactly
    floor(1000 / cost) fill, the rest get insufficient_funds, no balance goes negative."""
    settings.PORTFOLIO_START_USD = Decimal("1000")
    user = make_user()
    set_price(Decimal("150"))
    plan = plan_market_order(
        side="buy",
        index_price=Decimal("150"),
        qty=Decimal("0.5"),
        notional=None,
        rules=market_rules(market_get("SOL-USD")),
        model=slippage_model(),
        fee_bps=django_settings.TRADING_FEE_BPS,
    )
    cost = plan.notional + plan.fee
    affordable = int(Decimal("1000") // cost)
    assert affordable < WORKERS

    results = _fire(user, [order_body(qty="0.5", client_order_id=f"c{i}") for i in range(WORKERS)])
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: affordable, 422: WORKERS - affordable}
    assert all(body["code"] == "insufficient_funds" for status, body in results if status == 422)
    assert Fill.objects.filter(user=user).count() == affordable
    balances = balances_of(user)
    assert balances["USD"] == Decimal("1000") - affordable * cost
    assert balances["USD"] >= 0
    assert balances["SOL"] == affordable * Decimal("0.5")
    assert_books_ok()


def test_parallel_identical_requests_with_one_id_make_one_fill():
    """50 parallel identical requests with one client_order_id: one order, one fill, all 201
    with the same order id (the others are replays)."""
    user = make_user()
    set_price(Decimal("150"))
    results = _fire(user, [order_body(qty="1", client_order_id="same") for _ in range(WORKERS)])
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
    assert Order.objects.filter(user=user).count() == 1
    assert Fill.objects.filter(user=user).count() == 1
    assert balances_of(user)["SOL"] == 1
    assert_books_ok()


def test_parallel_orders_of_many_users_keep_the_books_balanced():
    """Ten users buying and selling at once (shared house/fees rows) leave a balanced ledger."""
    users = [make_user() for _ in range(10)]
    set_price(Decimal("150"))
    barrier = threading.Barrier(len(users))
    errors: list = []

    def run(user) -> None:
        client = authed_client(user)
        try:
            barrier.wait()
            for i in range(4):
                side = "buy" if i % 2 == 0 else "sell"
                response = client.post(
                    "/api/v1/orders", order_body(side=side, qty="1", client_order_id=f"m{i}"), format="json"
                )
                if response.status_code != 201:
                    errors.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Fill.objects.count() == 40
    assert_books_ok()
