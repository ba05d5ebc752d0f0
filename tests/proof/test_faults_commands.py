"""Fault tier for the order engine's review defects (issue 14, items 1, 2, 5), on a real web tier
(nginx + gunicorn + daphne, as `make run` serves):

* a command stuck behind a liquidation batch's row locks answers 503 ``lock_timeout`` (with
  ``Retry-After``) instead of filling late, stores nothing, and the same ``client_order_id`` fills
  once the batch is gone;
* a tick delivered late (a newer tick accepted meanwhile, a position opened after it) liquidates
  nothing, through the Celery task the price tick enqueues;
* a close of a position the index already crossed is settled as its liquidation over HTTP.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import psycopg
import pytest

from tests.portfolio.helpers import assert_books_ok
from tests.proof.stack import psycopg_dsn, web_tier
from tests.proof.test_faults import http_sign_in
from tests.trading.helpers import set_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TIMEOUT = 20


def _hold_user_rows(user_id: int) -> psycopg.Connection:
    """What a liquidation batch does first: lock its owners' USD balance rows (here: one owner)."""
    conn = psycopg.connect(psycopg_dsn(), autocommit=False)
    conn.execute(
        "SELECT b.id FROM portfolio_balance b JOIN portfolio_ledgeraccount a ON a.id = b.account_id "
        "WHERE a.user_id = %s AND b.asset = 'USD' FOR UPDATE",
        (user_id,),
    )
    return conn


def _user_id(base: str, headers: dict) -> int:
    from accounts.models import User

    me = httpx.get(base + "/api/v1/auth/me", headers=headers, timeout=TIMEOUT).json()
    return User.objects.get(address=me["user"]["address"]).pk


def test_a_fill_behind_a_liquidation_batch_answers_lock_timeout_then_fills_once(figures):
    from trading.models import Order

    set_price(Decimal("150"))
    with web_tier(TRADING_LOCK_TIMEOUT_MS="500") as web:
        headers = http_sign_in(web.url)
        body = {"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "1", "client_order_id": "late-1"}
        held = _hold_user_rows(_user_id(web.url, headers))
        set_price(Decimal("150"))  # fresh again: a loaded machine can take longer than the staleness budget
        released = threading.Timer(15, held.rollback)  # a command that did not time out would end the test here
        released.start()
        try:
            waited = httpx.post(web.url + "/api/v1/orders", json=body, headers=headers, timeout=TIMEOUT)
        finally:
            released.cancel()
            held.rollback()
            held.close()
        assert waited.status_code == 503, waited.text
        assert waited.json()["code"] == "lock_timeout" and int(waited.headers["Retry-After"]) >= 1
        assert Order.objects.filter(client_order_id="late-1").count() == 0
        set_price(Decimal("150"))
        filled = httpx.post(web.url + "/api/v1/orders", json=body, headers=headers, timeout=TIMEOUT)
        again = httpx.post(web.url + "/api/v1/orders", json=body, headers=headers, timeout=TIMEOUT)
    assert filled.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.filter(client_order_id="late-1").count() == 1
    assert_books_ok()
    figures.update(lock_timeout_ms=500, status_while_held=waited.status_code)


def test_a_late_tick_task_liquidates_nothing_it_should_not(figures):
    """The tick task's message arrives late: a newer tick was accepted (superseded), and a position
    opened after the late tick's time is never judged at the late price."""
    from portfolio.models import LedgerTransaction
    from tests.portfolio.helpers import make_user
    from trading.models import Position
    from trading.services.positions import position_open
    from trading.tasks import liquidate_on_tick

    set_price(Decimal("150"), age_seconds=3)
    late_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    user = make_user()
    opened = position_open(user=user, side="long", leverage=Decimal(20), margin=Decimal(100), client_order_id="p")
    crash = str((opened.position.liquidation_price * Decimal("0.95")).quantize(Decimal("0.01")))
    # Celery's own path with the task's serialised arguments (price, computed_at as ISO text).
    liquidate_on_tick.apply(args=(crash, late_at.isoformat()))
    assert Position.objects.get(pk=opened.position.pk).status == "open"
    set_price(Decimal("151"))  # a newer tick: the price is fine again
    liquidate_on_tick.apply(args=(crash, datetime.now(timezone.utc).isoformat()))
    # ... and that newest tick itself leaves a healthy position alone
    assert Position.objects.get(pk=opened.position.pk).status == "open"
    assert not LedgerTransaction.objects.filter(reason="liquidation").exists()
    assert_books_ok()
    figures.update(late_ticks_acted=0)


def test_a_close_over_http_of_a_crossed_position_is_its_liquidation(figures):
    from portfolio.models import LedgerEntry
    from trading.models import Position

    set_price(Decimal("150"))
    with web_tier() as web:
        headers = http_sign_in(web.url)
        set_price(Decimal("150"))  # fresh again after the web tier's start
        body = {"symbol": "SOL-PERP", "side": "long", "margin": "100", "leverage": "20", "client_order_id": "x"}
        opened = httpx.post(web.url + "/api/v1/positions", json=body, headers=headers, timeout=TIMEOUT).json()
        liq = Decimal(opened["liquidation_price"])
        set_price(liq - Decimal("0.01"))  # crossed, not yet past bankruptcy
        url = f"{web.url}/api/v1/positions/{opened['id']}/close"
        closed = httpx.post(url, json={"client_order_id": "x-close"}, headers=headers, timeout=TIMEOUT)
    assert closed.status_code == 200, closed.text
    assert closed.json()["close"]["kind"] == "liquidation"
    assert Position.objects.get(pk=opened["id"]).status == "liquidated"
    insurance = LedgerEntry.objects.filter(account__code="insurance").values_list("amount", flat=True)
    assert sum(insurance, Decimal(0)) > 0  # the residue went to the fund, not to the trader
    assert_books_ok()
    figures.update(crossed_close_kind=closed.json()["close"]["kind"])
