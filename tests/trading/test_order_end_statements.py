"""The cancel's own statements (``trading.order_end_pg``): the plain PostgreSQL pair and the ORM
twin (embedded mode) answer the same -- the order as the model reads it with its trader's ledger
account, ``None`` for anyone else's or an unknown id; the claim ends the row only while it is as
the read saw it (status, hold, trigger), and changes nothing otherwise."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
from django.utils import timezone

from portfolio.models import LedgerAccount
from tests.portfolio.helpers import make_user
from tests.trading.helpers import set_price
from trading.models import Order
from trading.order_end_pg import PORTABLE, POSTGRES, Was, order_end_statements
from trading.services.limit_orders import limit_order_place
from trading.services.stop_orders import stop_order_place

pytestmark = pytest.mark.django_db
STATEMENTS = pytest.mark.parametrize("statements", [POSTGRES, PORTABLE], ids=["postgres", "orm"])
COLUMNS = [f.attname for f in Order._meta.concrete_fields]


def _resting(user, cid: str = "b") -> Order:
    set_price(D("100"))
    return limit_order_place(user=user, client_order_id=cid, symbol="SOL-USD", side="buy", qty=D(2),
                             limit_price=D(95)).order  # fmt: skip


def test_postgres_gets_the_plain_pair():
    assert order_end_statements() is POSTGRES


@STATEMENTS
def test_the_read_answers_the_order_as_the_model_reads_it_and_its_trader_account(statements):
    user, other = make_user(), make_user()
    order = _resting(user)
    account = LedgerAccount.objects.get(user=user)
    for user_id in (None, user.pk):
        found, found_account = statements.read(order.pk, user_id)
        stored = Order.objects.get(pk=order.pk)
        assert [getattr(found, name) for name in COLUMNS] == [getattr(stored, name) for name in COLUMNS]
        assert found.held == D("190.19") and found._state.adding is False and found._state.db == "default"
        assert (found_account.pk, found_account.user_id, found_account.epoch) == (account.pk, user.pk, account.epoch)
    assert statements.read(order.pk, other.pk) is None
    assert statements.read(uuid.uuid4(), None) is None


@STATEMENTS
def test_the_claim_ends_the_row_only_as_read(statements):
    user = make_user()
    order = _resting(user)
    was, now = Was("new", D("190.19"), None), timezone.now()
    stale = [was._replace(status="canceled"), was._replace(held=D("190.18")), was._replace(triggered_at=now)]
    for other in stale:
        assert statements.claim(order.pk, was=other, to="canceled", closed_at=now) is False
        assert Order.objects.values_list("status", "held", "closed_at").get(pk=order.pk) == ("new", D("190.19"), None)
    assert statements.claim(order.pk, was=was, to="canceled", closed_at=now) is True
    assert Order.objects.values_list("status", "held", "closed_at").get(pk=order.pk) == ("canceled", 0, now)
    assert statements.claim(order.pk, was=was, to="canceled", closed_at=now) is False  # once


@STATEMENTS
def test_the_claim_of_a_triggered_stop_limit_matches_its_trigger_time(statements):
    set_price(D("100"))
    user = make_user()
    order = stop_order_place(user=user, client_order_id="sl", symbol="SOL-USD", side="buy", type="stop_limit",
                             qty=D(1), stop_price=D(105), limit_price=D(106)).order  # fmt: skip
    triggered, now = timezone.now(), timezone.now()
    Order.objects.filter(pk=order.pk).update(triggered_at=triggered)
    read, _account = statements.read(order.pk, user.pk)
    assert read.triggered_at == triggered
    assert statements.claim(order.pk, was=Was("new", read.held, None), to="canceled", closed_at=now) is False
    assert statements.claim(order.pk, was=Was("new", read.held, triggered), to="canceled", closed_at=now) is True
    assert Order.objects.get(pk=order.pk).status == "canceled"
