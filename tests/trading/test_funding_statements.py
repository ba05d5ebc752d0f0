"""The funding statement (PostgreSQL, one statement for the market) and its ORM twin (SQLite's,
run here on PostgreSQL) agree with the pure maths to the last digit, on odd sizes, both sides,
leverages from 1 to 20 and a payment the margin cannot cover; the statement count is fixed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.funding_helpers import last_funding_time, set_perp
from tests.trading.position_helpers import perp_book_setup
from trading.funding_maths import funding_amount, funding_due
from trading.funding_pg import PORTABLE_FUNDING, POSTGRES_FUNDING
from trading.margin import liquidation_price
from trading.models import FundingPayment, LedgerTransaction, Position
from trading.services.funding import funding_settle
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def book(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(0), FUNDING_RATE_CAP=D("0.2"), FUNDING_LATE_GRACE_SECONDS=7200)


def _book(n: int, since) -> list[Position]:
    out = []
    for i in range(n):
        position = position_open(
            user=make_user(), side="long" if i % 2 else "short", leverage=D(1 + i % 20),
            margin=D("37.123457") + i * D("13.000011"), client_order_id=f"b{i}",
        ).position  # fmt: skip
        out.append(position)
    Position.objects.update(opened_at=since)
    return out


def _check(before: dict, *, mark: D, rate: D) -> None:
    """Each position paid what the maths says and its liquidation price is ``trading.margin``'s."""
    for position in Position.objects.filter(status="open"):
        old = before[position.pk]
        due = funding_due(side=position.side, qty=position.qty, mark=mark, rate=rate)
        amount = funding_amount(due=due, margin=old.margin)
        pay = FundingPayment.objects.get(
            position=position, funding_time=FundingPayment.objects.latest("id").funding_time
        )
        assert (pay.amount, pay.insurance) == (amount, due - amount)
        assert position.margin == old.margin + amount
        assert position.funding_accrued == old.funding_accrued + amount
        assert position.liquidation_price == liquidation_price(
            position.side, position.entry_price, position.margin, position.qty, position.mmr, D("0.000001")
        )


@pytest.mark.parametrize("sql", [POSTGRES_FUNDING, PORTABLE_FUNDING], ids=["postgres", "orm"])
def test_statement_and_twin_follow_the_maths(sql):
    """Rate 0.0537 at mark 101.37: odd dues, paid and received; a 20x long's due is more than its
    margin (insurance pays the house the rest); every figure as ``trading.funding_maths`` and
    ``trading.margin`` compute them, the ledger balanced."""
    t = last_funding_time() - timedelta(hours=1)
    _book(40, since=t - timedelta(minutes=1))
    set_perp(D(100), mark=D("101.37"), rate=D("0.0537"))
    before = {p.pk: p for p in Position.objects.all()}
    funding_settle(symbol="SOL-PERP", funding_time=t, sql=sql)
    assert FundingPayment.objects.count() == 40
    assert FundingPayment.objects.filter(insurance__lt=0).exists()
    assert LedgerTransaction.objects.filter(reason="funding").count() == 40
    _check({pk: p for pk, p in before.items()}, mark=D("101.37"), rate=D("0.0537"))
    assert_books_ok()


def test_statement_count_is_fixed():
    """The settlement of 10 or 40 positions takes the same number of statements."""
    t = last_funding_time()
    _book(40, since=t - timedelta(minutes=1))
    Position.objects.filter(client_order_id__in=[f"b{i}" for i in range(10)]).update(opened_at=t - timedelta(hours=2))
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    with CaptureQueriesContext(connection) as ten:
        funding_settle(symbol="SOL-PERP", funding_time=t - timedelta(hours=1), sql=POSTGRES_FUNDING)
    assert FundingPayment.objects.count() == 10
    with CaptureQueriesContext(connection) as forty:
        funding_settle(symbol="SOL-PERP", funding_time=t, sql=POSTGRES_FUNDING)
    assert FundingPayment.objects.count() == 50
    assert len(ten.captured_queries) == len(forty.captured_queries)
