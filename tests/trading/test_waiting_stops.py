"""The stop engine's candidates (``waiting_stops``): exactly the waiting stops the index crossed
(a buy at or below it, a sell at or above), oldest first, each with its trader's ledger account;
a tick that crosses none costs one statement (the probe of the stop index's ends). The limit and
stop engines' probes: their partial indexes, and the same answers as their ORM twins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolio.models import LedgerAccount
from tests.portfolio.helpers import make_user
from tests.trading.helpers import set_price
from trading.models import Order
from trading.services import order_place
from trading.services.limit_orders import limit_order_place
from trading.services.stop_orders import stop_order_place
from trading.services.stop_triggers import waiting_stops

pytestmark = pytest.mark.django_db


def _stop(user, cid: str, side: str, stop: str, **extra) -> Order:
    return stop_order_place(
        user=user, client_order_id=cid, symbol="SOL-USD", side=side, type=extra.pop("type", "stop"), qty=D(1),
        stop_price=D(stop), **extra,
    ).order  # fmt: skip


def test_exactly_the_crossed_waiting_stops_oldest_first_with_their_accounts():
    set_price(D("100"))
    first, second = make_user(), make_user()
    for user in (first, second):  # some SOL to sell
        order_place(user=user, client_order_id="sol", symbol="SOL-USD", side="buy", type="market", qty=D(2))
    buy_101 = _stop(first, "b101", "buy", "101")
    _stop(second, "b104", "buy", "104")
    sell_99 = _stop(second, "s99", "sell", "99")
    _stop(first, "s96", "sell", "96")
    buy_102 = _stop(first, "b102", "buy", "102", type="stop_limit", limit_price=D("103"))
    triggered = _stop(second, "b100.5", "buy", "100.5", type="stop_limit", limit_price=D("101"))
    Order.objects.filter(pk=triggered.pk).update(triggered_at=datetime.now(timezone.utc))  # resting as its limit
    before = datetime.now(timezone.utc)
    accounts = {a.user_id: (a.pk, a.epoch) for a in LedgerAccount.objects.filter(user__in=[first, second])}

    def ids(index: str, at: datetime = before) -> list:
        return [row[0] for row in waiting_stops(symbols=["SOL-USD"], index=D(index), before=at)]

    assert ids("102") == [buy_101.pk, buy_102.pk]  # a buy at or below the index
    assert ids("99") == [sell_99.pk]  # a sell at or above it
    assert ids("100") == [] and ids("101", at=before - timedelta(minutes=5)) == []  # none; none resting by then
    (row,) = waiting_stops(symbols=["SOL-USD"], index=D("101"), before=before)
    assert row == (buy_101.pk, "SOL-USD", first.pk, *accounts[first.pk])
    with CaptureQueriesContext(connection) as queries:
        assert waiting_stops(symbols=["SOL-USD"], index=D("100"), before=before) == []
    assert len(queries.captured_queries) == 1  # the probe only


def test_the_index_probes_use_their_partial_indexes_and_answer_as_their_orm_twins():
    """The limit and stop engines' probes (fixed SQL text) can use the partial indexes (their
    predicates are the indexes' own: with sequential scans off the plan names each index) and
    answer what the ORM twins answer: the top resting buy limit (a triggered stop-limit rests as a
    limit), the lowest resting sell limit, the lowest waiting buy stop, the highest waiting sell
    stop."""
    from trading.trigger_pg import LIMIT_ENDS_SQL, PORTABLE, POSTGRES, STOP_ENDS_SQL

    set_price(D("100"))
    user = make_user()
    order_place(user=user, client_order_id="sol", symbol="SOL-USD", side="buy", type="market", qty=D(3))
    for cid, side, limit in (("b1", "buy", "95"), ("b2", "buy", "97"), ("s1", "sell", "104"), ("s2", "sell", "103")):
        limit_order_place(user=user, client_order_id=cid, symbol="SOL-USD", side=side, qty=D(1), limit_price=D(limit))
    _stop(user, "sb", "buy", "106")
    _stop(user, "sb2", "buy", "108")
    _stop(user, "ss", "sell", "94")
    triggered = _stop(user, "tl", "buy", "101", type="stop_limit", limit_price=D("98"))
    Order.objects.filter(pk=triggered.pk).update(triggered_at=datetime.now(timezone.utc))
    for sql in (POSTGRES, PORTABLE):
        assert sql.limit_ends(symbols=["SOL-USD", "JUP-USD"]) == (D("98"), D("103"))
        assert sql.stop_ends(symbols=["SOL-USD"]) == (D("106"), D("94"))
        assert sql.limit_ends(symbols=["JUP-USD"]) == (None, None)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for statement, index in (
            (LIMIT_ENDS_SQL, "order_open_sym_side_limit"),
            (STOP_ENDS_SQL, "order_open_sym_side_stop"),
        ):
            cursor.execute(f"EXPLAIN {statement}", [["SOL-USD"]])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert plan.count(index) == 2, plan
