"""The trader's cancel, lean: its statements counted, its ``portfolio_update`` built from the
locked balance rows plus the release (nothing re-read), a final order answered 409 from one read,
a stop-limit triggered between the read and the lock still canceled with the row as it is now,
two cancels racing release the hold once; and the same path on SQLite (embedded mode)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portfolio.models import Bucket, LedgerEntry
from realtime.models import UserEvent
from tests.conftest import sqlite_script_run
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from trading.errors import OrderNotCancelable
from trading.models import Order
from trading.services import order_end
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel
from trading.services.stop_orders import stop_order_place

pytestmark = pytest.mark.django_db(transaction=True)


def _payloads(user, *types: str) -> list[dict]:
    events = UserEvent.objects.filter(user=user, type__in=types).order_by("seq")
    return [json.loads(e.payload) if isinstance(e.payload, str) else e.payload for e in events]


def _releases(order: Order) -> int:
    return LedgerEntry.objects.filter(
        txn__reference_id=str(order.pk), bucket=Bucket.LOCKED, amount__lt=0, account__user_id=order.user_id
    ).count()


def test_one_cancel_is_eleven_statements_and_its_update_is_the_locked_rows_plus_the_release():
    """Buy 2 at 95 holds 2 x 95 x 1.001 = 190.19 USD. Canceling the buy: eleven statements -- one
    read (the order with its account), BEGIN, the lock timeout, the balance lock, the claim, the
    release's posting (its rows already locked: the update, the transaction, the entries), the two
    of the events, COMMIT.
    ``portfolio_update`` shows the USD row back to 10,000 free, nothing locked; no book changed."""
    set_price(D("100"))
    user = make_user()
    buy = limit_order_place(user=user, client_order_id="b", symbol="SOL-USD", side="buy", qty=D(2),
                            limit_price=D(95)).order  # fmt: skip
    assert balances_of(user)["USD_locked"] == D("190.19")
    with CaptureQueriesContext(connection) as queries:
        canceled = order_cancel(user=user, order_id=buy.pk)
    assert len(queries.captured_queries) == 11, "\n".join(q["sql"][:90] for q in queries.captured_queries)
    assert (canceled.status, canceled.held, canceled.closed_at is not None) == ("canceled", 0, True)
    end, update = _payloads(user, "order_canceled", "portfolio_update")[-2:]
    assert (end["data"]["status"], end["data"]["held"], end["data"]["reason"]) == (
        "canceled", "0.000000000", "canceled by the trader"
    )  # fmt: skip
    assert update["seq"] == end["seq"] + 1
    usd = update["data"]["balances"]["USD"]
    assert (D(usd["free"]), D(usd["locked"]), D(usd["total"])) == (D(10000), 0, D(10000))
    assert update["data"]["holdings"] == {} and "sol" not in update["data"]
    assert balances_of(user)["USD_locked"] == 0 and _releases(buy) == 1
    assert_books_ok()


def test_a_sell_cancel_shows_both_locked_rows_as_the_release_left_them():
    """Bought 1 SOL at market, then a sell of 1 at 120 holds it; the cancel's update carries the
    USD row (untouched) and the SOL row with its 1 SOL free again."""
    set_price(D("100"))
    user = make_user()
    from trading.services import order_place

    order_place(user=user, client_order_id="m", symbol="SOL-USD", side="buy", type="market", qty=D(1))
    sell = limit_order_place(user=user, client_order_id="s", symbol="SOL-USD", side="sell", qty=D(1),
                             limit_price=D(120)).order  # fmt: skip
    before = balances_of(user)
    order_cancel(user=user, order_id=sell.pk)
    update = _payloads(user, "portfolio_update")[-1]["data"]["balances"]
    assert D(update["SOL"]["free"]) == D(1) and D(update["SOL"]["locked"]) == 0
    assert D(update["USD"]["free"]) == before["USD"] and D(update["USD"]["locked"]) == 0
    assert balances_of(user)["SOL"] == D(1) and balances_of(user)["SOL_locked"] == 0
    assert_books_ok()


def test_a_final_order_is_answered_409_from_one_read_and_anyone_elses_404():
    set_price(D("100"))
    user, other = make_user(), make_user()
    order = limit_order_place(user=user, client_order_id="b", symbol="SOL-USD", side="buy", qty=D(1),
                              limit_price=D(95)).order  # fmt: skip
    order_cancel(user=user, order_id=order.pk)
    with CaptureQueriesContext(connection) as queries, pytest.raises(OrderNotCancelable) as refused:
        order_cancel(user=user, order_id=order.pk)
    assert len(queries.captured_queries) == 1 and refused.value.extra["status"] == "canceled"
    with pytest.raises(order_end.OrderNotFound):
        order_cancel(user=other, order_id=order.pk)
    assert _releases(order) == 1
    assert_books_ok()


def test_a_stop_limit_triggered_between_the_read_and_the_lock_is_canceled_as_it_is_now(monkeypatch):
    """The claim finds the row changed (its stop triggered after the cancel read it): the cancel
    re-reads it under the lock, still ``new``, and cancels it; the event and the answer show
    ``triggered_at``; the hold is released once."""
    set_price(D("100"))
    user = make_user()
    order = stop_order_place(user=user, client_order_id="sl", symbol="SOL-USD", side="buy", type="stop_limit",
                             qty=D(1), stop_price=D(105), limit_price=D(106)).order  # fmt: skip
    read = order_end._order_read
    triggered = timezone.now()

    def read_then_trigger(order_id, user):
        found = read(order_id, user)
        Order.objects.filter(pk=order_id).update(triggered_at=triggered)  # the stop engine, committed
        return found

    monkeypatch.setattr(order_end, "_order_read", read_then_trigger)
    canceled = order_cancel(user=user, order_id=order.pk)
    assert canceled.status == "canceled" and canceled.triggered_at == triggered
    assert _payloads(user, "order_canceled")[-1]["data"]["triggered_at"] is not None
    assert _releases(order) == 1 and balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_two_cancels_of_one_order_at_once_release_its_hold_once():
    set_price(D("100"))
    user = make_user()
    for trial in range(10):
        order = limit_order_place(user=user, client_order_id=f"r{trial}", symbol="SOL-USD", side="buy", qty=D(1),
                                  limit_price=D(95)).order  # fmt: skip
        barrier, results = threading.Barrier(2), []

        def cancel(order_id=order.pk, barrier=barrier, results=results) -> None:
            try:
                barrier.wait()
                results.append(order_cancel(user=user, order_id=order_id).status)
            except OrderNotCancelable as refused:
                results.append(refused.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=cancel) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["canceled", "not_cancelable"] and _releases(order) == 1
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()


SQLITE = r"""
import django
django.setup()
from datetime import datetime, timezone
from decimal import Decimal as D
from django.core.cache import cache
from accounts.models import User
from portfolio.reconcile import reconcile_run
from pricing.selectors import latest_price_key
from trading.errors import OrderNotCancelable
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel, orders_expire_due

now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
cache.set(latest_price_key("SOL-USD"), {"symbol": "SOL-USD", "price": "100", "sources": ["t"], "computed_at": now,
                                        "mode": "live"}, 300)
u = User.objects.create_user(username="c1", address="c1")
order = limit_order_place(user=u, client_order_id="a", symbol="SOL-USD", side="buy", qty=D(2), limit_price=D(95)).order
canceled = order_cancel(user=u, order_id=order.pk)
assert (canceled.status, canceled.held) == ("canceled", 0), canceled
try:
    order_cancel(user=u, order_id=order.pk)
    raise AssertionError("a second cancel")
except OrderNotCancelable:
    pass
breaches = {name: problems for name, problems in reconcile_run().items() if problems}
assert breaches == {}, breaches
print("cancel ok on sqlite")
"""


@pytest.mark.slow
def test_the_lean_cancel_on_sqlite(tmp_path):
    run = sqlite_script_run(tmp_path, SQLITE)
    assert "cancel ok on sqlite" in run.stdout
