"""Funding settlement on the real PostgreSQL and Redis, by hand-computed figures: SOL at 100, no
slippage, no fee, mmr 0.5 %; a 10x long and a 10x short of 10 SOL (margin 100 each). Every
case ends with the ledger balanced and ``reconcile`` clean."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from portfolio.models import LedgerAccount, LedgerEntry, LedgerTransaction
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.funding_helpers import backdate, last_funding_time, set_perp
from tests.trading.position_helpers import perp_book_setup
from trading.models import FundingPayment, FundingRun, Position, PositionEvent
from trading.services.funding import funding_settle
from trading.services.positions import position_close, position_open, position_tpsl_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def book(settings):
    # The grace spans the hour, so a run of the last funding time is on time whenever the test runs.
    perp_book_setup(
        settings, POSITION_FEE_BPS=D(0), FUNDING_RATE_CAP=D("0.0005"), FUNDING_INTERVAL_HOURS=1,
        FUNDING_LATE_GRACE_SECONDS=3600,
    )  # fmt: skip


def _open(side: str, *, leverage: str = "10", margin: str = "100", qty: str | None = None):
    user = make_user()
    position = position_open(
        user=user, side=side, leverage=D(leverage), margin=None if qty else D(margin), qty=D(qty) if qty else None,
        client_order_id=f"{side}-1",
    ).position  # fmt: skip
    backdate(position, to=last_funding_time())
    return user, position


def _house_usd() -> D:
    house = LedgerAccount.objects.get(code="house")
    return sum((e.amount for e in LedgerEntry.objects.filter(account=house, asset="USD")), D(0))


def test_positive_venue_rate_longs_pay_shorts_at_the_mark():
    """Rate +0.0001 (the venues'), mark 100: the long of 10 pays 10 x 100 x 0.0001 = 0.1 out of its
    margin (100 -> 99.9, P_liq (100 - 9.99) / 0.995 = 90.462312 up), the short receives 0.1 (100.1,
    P_liq (100 + 10.01) / 1.005 = 109.462686 down); the house pays and gets 0.1: net 0."""
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    a, long_ = _open("long")
    b, short = _open("short")
    house_before = _house_usd()
    outcome = funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert outcome.settled and outcome.payments == 2 and not outcome.late
    assert (outcome.rate.rate, outcome.rate.basis, outcome.rate.capped) == (D("0.0001"), "venues", False)
    long_.refresh_from_db()
    short.refresh_from_db()
    assert (long_.margin, long_.funding_accrued, long_.liquidation_price) == (D("99.9"), D("-0.1"), D("90.462312"))
    assert (short.margin, short.funding_accrued, short.liquidation_price) == (D("100.1"), D("0.1"), D("109.462686"))
    assert balances_of(a)["USD"] == D(9900) and balances_of(a)["USD_locked"] == D("99.9")
    assert balances_of(b)["USD"] == D(9900) and balances_of(b)["USD_locked"] == D("100.1")
    assert _house_usd() == house_before
    pay = FundingPayment.objects.get(position=long_)
    assert (pay.amount, pay.rate, pay.mark, pay.qty, pay.side, pay.margin_after) == (
        D("-0.1"), D("0.0001"), D(100), D(10), "long", D("99.9"))  # fmt: skip
    txn = pay.ledger_txn
    assert (txn.reason, txn.reference_type, txn.reference_id) == ("funding", "position", str(long_.pk))
    legs = sorted((e.account.code, e.bucket, e.amount) for e in txn.entries.select_related("account"))
    assert legs == [("house", "free", D("0.1")), (f"user:{a.pk}", "locked", D("-0.1"))]
    run = FundingRun.objects.get(symbol="SOL-PERP", funding_time=last_funding_time())
    assert (run.positions, run.paid_total, run.received_total, run.status, run.late) == (
        2, D("0.1"), D("0.1"), "settled", False)  # fmt: skip
    assert_books_ok()


def test_negative_rate_shorts_pay_longs():
    """Rate -0.0002 at a venue mark of 101 (index 100): the long receives 10 x 101 x 0.0002 =
    0.202, the short pays it."""
    set_perp(D(100), mark=D(101), rate=D("-0.0002"))
    _a, long_ = _open("long")
    _b, short = _open("short")
    funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    long_.refresh_from_db()
    short.refresh_from_db()
    assert (long_.margin, long_.funding_accrued) == (D("100.202"), D("0.202"))
    assert (short.margin, short.funding_accrued) == (D("99.798"), D("-0.202"))
    assert_books_ok()


def test_premium_formula_and_rounding_in_the_house_favour():
    """No venue data: mark = index, premium 0, so the rate is the interest per hour 0.0001 / 8 =
    0.0000125. A long and a short of 0.731 SOL: 0.731 x 100 x 0.0000125 = 0.00091375; the long
    pays 0.000914 (rounded up), the short receives 0.000913 (rounded down); the house keeps 1e-6."""
    set_perp(D(100))
    _a, long_ = _open("long", qty="0.731")
    _b, short = _open("short", qty="0.731")
    house_before = _house_usd()
    outcome = funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert (outcome.rate.rate, outcome.rate.basis) == (D("0.0000125"), "premium")
    assert FundingPayment.objects.get(position=long_).amount == D("-0.000914")
    assert FundingPayment.objects.get(position=short).amount == D("0.000913")
    assert _house_usd() - house_before == D("0.000001")
    assert_books_ok()


def test_rate_clamped_to_the_cap():
    """A venue rate of 0.01 is charged at the cap 0.0005: the long pays 10 x 100 x 0.0005 = 0.5."""
    set_perp(D(100), mark=D(100), rate=D("0.01"))
    _a, long_ = _open("long")
    outcome = funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert (outcome.rate.rate, outcome.rate.capped) == (D("0.0005"), True)
    assert FundingPayment.objects.get(position=long_).amount == D("-0.5")
    assert FundingRun.objects.get().capped is True
    assert_books_ok()


def test_payment_larger_than_the_margin_liquidates(settings):
    """Cap raised to 0.1, rate 0.06: a 20x long of 20 SOL (margin 100) is due 20 x 100 x 0.06 = 120.
    Its margin pays 99.999999 (a position keeps 1e-6), insurance pays the house the other
    20.000001; the margin left no longer covers the maintenance at the mark (P_liq 100.502513 >
    100): the liquidation engine liquidates it at the mark (PnL 0, insurance gets the 1e-6)."""
    settings.FUNDING_RATE_CAP = D("0.1")
    set_perp(D(100), mark=D(100), rate=D("0.06"))
    a, long_ = _open("long", leverage="20")
    house_before = _house_usd()
    outcome = funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert outcome.liquidated == [str(long_.pk)]
    pay = FundingPayment.objects.get(position=long_)
    assert (pay.amount, pay.insurance, pay.margin_after) == (D("-99.999999"), D("-20.000001"), D("0.000001"))
    long_.refresh_from_db()
    assert long_.status == "liquidated" and long_.funding_accrued == D("-99.999999")
    assert PositionEvent.objects.get(position=long_, kind="liquidation").insurance == D("0.000001")
    assert _house_usd() - house_before == D(120)
    assert balances_of(a)["USD"] == D(9900) and balances_of(a)["USD_locked"] == D(0)
    [liquidated] = [e.payload["data"] for e in UserEvent.objects.filter(user=a, type="position_liquidated")]
    assert (liquidated["position_id"], liquidated["funding_accrued"]) == (str(long_.pk), "-99.999999000")
    assert_books_ok()


def test_payment_below_maintenance_liquidates():
    """Rate 0.0475 (cap 0.05): the 20x long of 20 SOL pays 95, margin 5 < maintenance 0.005 x 20 x
    100 = 10: liquidated; a 2x long of 5 SOL (margin 250) pays 23.75 and stays open."""
    from django.conf import settings

    settings.FUNDING_RATE_CAP = D("0.05")
    set_perp(D(100), mark=D(100), rate=D("0.0475"))
    _a, weak = _open("long", leverage="20")
    _b, strong = _open("long", leverage="2", margin="250")
    outcome = funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert outcome.liquidated == [str(weak.pk)]
    strong.refresh_from_db()
    assert (strong.status, strong.margin) == ("open", D("226.25"))
    assert_books_ok()


def test_rerun_charges_nothing_and_late_run_is_marked():
    """The second settlement of one funding time does nothing; a run settled after the grace is late;
    a position opened after the funding time does not pay for it."""
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    _a, long_ = _open("long")
    late_user = make_user()
    position_open(user=late_user, side="short", leverage=D(10), margin=D(100), client_order_id="late")
    t = last_funding_time()
    from django.utils import timezone

    now = timezone.now()
    first = funding_settle(symbol="SOL-PERP", funding_time=t, now=now)
    again = funding_settle(symbol="SOL-PERP", funding_time=t, now=now)
    assert first.settled and not again.settled
    assert FundingPayment.objects.count() == 1 and LedgerTransaction.objects.filter(reason="funding").count() == 1
    long_.refresh_from_db()
    assert long_.margin == D("99.9")
    assert FundingRun.objects.get().late is False
    assert_books_ok()


def test_late_flag_past_the_grace(settings):
    """The funding time an hour before the last one, settled now (past a grace of 120 s): late."""
    settings.FUNDING_LATE_GRACE_SECONDS = 120
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    _open("long")
    from django.utils import timezone

    t = last_funding_time() - timedelta(hours=1)
    Position.objects.update(opened_at=t - timedelta(minutes=1))
    outcome = funding_settle(symbol="SOL-PERP", funding_time=t, now=timezone.now())
    assert outcome.late and FundingRun.objects.get(funding_time=t).late
    assert FundingPayment.objects.get().funding_time == t


def test_events_funding_payment_and_portfolio_update():
    """Each payer gets ``funding_payment`` (amount signed, the position after it) then
    ``portfolio_update`` with the new locked margin, in seq order."""
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    a, long_ = _open("long")
    funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    events = list(UserEvent.objects.filter(user=a).order_by("seq"))
    tail = [(e.type, e.payload["data"]) for e in events[-2:]]
    assert tail[0][0] == "funding_payment"
    data = tail[0][1]
    assert (data["position_id"], data["symbol"], data["side"], data["amount"], data["margin"], data["rate"]) == (
        str(long_.pk), "SOL-PERP", "long", "-0.100000000", "99.900000000", "0.000100000")  # fmt: skip
    assert data["funding_accrued"] == "-0.100000000" and data["liquidation_price"] == "90.462312000"
    assert tail[1][0] == "portfolio_update"
    assert tail[1][1]["balances"]["USD"]["locked"] == "99.900000000"
    assert events[-1].seq == events[-2].seq + 1


def test_position_events_carry_the_accrued_funding():
    """After a payment, the position's own events show what it has paid: ``position_update`` of
    its close (and of a TP/SL edit before it) carries ``funding_accrued``."""
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    a, long_ = _open("long")
    funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    position_tpsl_set(user=a, position_id=long_.pk, take_profit_price=D(120), stop_loss_price=None)
    position_close(user=a, position_id=long_.pk, client_order_id="close-1")
    updates = [e.payload["data"] for e in UserEvent.objects.filter(user=a, type="position_update").order_by("seq")]
    assert [(u["reason"], u["funding_accrued"]) for u in updates[-2:]] == [
        ("tpsl_updated", "-0.100000000"), ("closed", "-0.100000000")]  # fmt: skip
    assert_books_ok()


def test_reconcile_finds_a_payment_that_does_not_match():
    """``funding_payments_have_ledger_rows`` names a position whose accrued funding is not the sum
    of its payments, and a payment whose amount is not its transaction's trader leg."""
    from portfolio.reconcile import reconcile_run

    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    _a, long_ = _open("long")
    funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    assert reconcile_run()["funding_payments_have_ledger_rows"] == []
    Position.objects.filter(pk=long_.pk).update(funding_accrued=D("-0.2"))
    FundingPayment.objects.update(amount=D("-0.3"))
    problems = reconcile_run()["funding_payments_have_ledger_rows"]
    assert any("funding_accrued" in p for p in problems) and any("ledger transaction differs" in p for p in problems)
