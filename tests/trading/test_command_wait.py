"""A command that waits for its row locks (issue 14, item 5): it answers 503 ``lock_timeout``
after ``TRADING_LOCK_TIMEOUT_MS`` instead of filling late, and a price that aged past its budget
while it waited is refused at fill time (503 ``price_stale``). Either way nothing is written.

The wait is real: a second PostgreSQL connection holds the trader's USD balance row
``FOR UPDATE`` (as a long liquidation batch holding its owners' rows would).
"""

from __future__ import annotations

import threading
from decimal import Decimal as D

import psycopg
import pytest
from django.db import connection

from tests.portfolio.helpers import assert_books_ok, authed_client, balances_of, make_user
from tests.proof.stack import psycopg_dsn
from tests.trading.helpers import order_body, set_price
from tests.trading.position_helpers import open_body
from trading.models import Order, Position, PositionOrder

pytestmark = pytest.mark.django_db(transaction=True)


class BalanceRowHold:
    """``SELECT ... FOR UPDATE`` on a user's USD balance row from another connection."""

    def __init__(self, user) -> None:
        self.lock = threading.Lock()  # the timer's release and the test's may run at once
        self.conn = psycopg.connect(psycopg_dsn(), autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT b.id FROM portfolio_balance b JOIN portfolio_ledgeraccount a ON a.id = b.account_id "
                "WHERE a.user_id = %s AND b.asset = 'USD' FOR UPDATE",
                (user.pk,),
            )
            assert cur.fetchall()

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer

    def release(self) -> None:
        with self.lock:
            if not self.conn.closed:
                self.conn.rollback()
                self.conn.close()


@pytest.fixture
def trader_pair():
    user = make_user()
    return user, authed_client(user)


def _commands(client, position_id: str | None):
    yield "order", lambda: client.post("/api/v1/orders", order_body(client_order_id="w-o"), format="json")
    yield "open", lambda: client.post("/api/v1/positions", open_body(client_order_id="w-p"), format="json")
    if position_id:
        url = f"/api/v1/positions/{position_id}/close"
        yield "close", lambda: client.post(url, {"client_order_id": "w-c"}, format="json")


def _written() -> tuple[int, int, int]:
    return Order.objects.count(), Position.objects.count(), PositionOrder.objects.count()


def test_a_command_stuck_behind_a_lock_answers_503_lock_timeout_and_writes_nothing(trader_pair, settings):
    user, client = trader_pair
    settings.TRADING_LOCK_TIMEOUT_MS = 300
    set_price(D(150))
    existing = client.post("/api/v1/positions", open_body(client_order_id="first"), format="json").json()
    before, written = balances_of(user), _written()
    for name, send in _commands(client, existing["id"]):
        hold = BalanceRowHold(user)
        timer = hold.release_after(10)  # on a command that does not time out, the test ends here
        try:
            response = send()
        finally:
            timer.cancel()
            hold.release()
        assert response.status_code == 503, (name, response.content)
        assert response.json()["code"] == "lock_timeout" and response["Retry-After"], name
        assert balances_of(user) == before and _written() == written, name
    assert client.post("/api/v1/orders", order_body(client_order_id="w-o"), format="json").status_code == 201
    connection.close()
    assert_books_ok()


def test_a_price_that_aged_past_its_budget_while_waiting_is_refused_at_fill_time(trader_pair, settings):
    user, client = trader_pair
    settings.TRADING_LOCK_TIMEOUT_MS = 10000
    settings.PRICE_STALE_SECONDS = 1
    set_price(D(150))
    existing = client.post("/api/v1/positions", open_body(client_order_id="first"), format="json").json()
    before, written = balances_of(user), _written()
    for name, send in _commands(client, existing["id"]):
        set_price(D(150))  # fresh when the command reads it...
        hold = BalanceRowHold(user)
        hold.release_after(1.5)  # ...1.5 s old when it gets its lock
        try:
            response = send()
        finally:
            hold.release()
        assert response.status_code == 503, (name, response.content)
        body = response.json()
        assert body["code"] == "price_stale" and body["extra"]["at"] == "fill", name
        assert balances_of(user) == before and _written() == written, name
    connection.close()
    assert_books_ok()
