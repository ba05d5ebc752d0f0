"""Scheduling: beat (and the embedded scheduler) settles each perp market's latest due funding
time once; missed times before it are recorded as skipped, never charged; a market without a
fresh price waits for the next beat. The event's JSON text is the dict's, byte for byte."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.funding_helpers import backdate, last_funding_time, set_perp
from tests.trading.helpers import clear_price
from tests.trading.position_helpers import perp_book_setup
from trading.funding_maths import Paid, funding_time_at_or_before, funding_time_next
from trading.funding_tasks import funding_settle_due_task
from trading.models import FundingPayment, FundingRun
from trading.services.funding import funding_settle_due
from trading.services.funding_events import funding_head, funding_payment_data, funding_payment_json
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def book(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(0), FUNDING_LATE_GRACE_SECONDS=7200, FUNDING_INTERVAL_HOURS=1)


def test_funding_times_on_the_interval_grid():
    """Hourly: the full hours; 8 hours: 00:00, 08:00, 16:00 UTC."""
    moment = datetime(2026, 12, 7, 17, 42, 5, tzinfo=timezone.utc)
    assert funding_time_at_or_before(moment, interval_hours=1) == datetime(2026, 12, 7, 17, tzinfo=timezone.utc)
    assert funding_time_at_or_before(moment, interval_hours=8) == datetime(2026, 12, 7, 16, tzinfo=timezone.utc)
    assert funding_time_next(moment, interval_hours=8) == datetime(2026, 12, 8, 0, tzinfo=timezone.utc)


def test_beat_settles_each_perp_market_once_and_records_missed_times(settings):
    """The last run of SOL-PERP was 3 hours before the latest funding time: the latest is settled
    (the long pays), the two between are recorded skipped; a second beat does nothing; BONK-PERP,
    with no fresh price, waits."""
    assert settings.CELERY_BEAT_SCHEDULE["trading-funding-settle"]["task"] == "trading.funding_settle_due"
    clear_price("BONK-USD")
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    t = last_funding_time()
    now = datetime.now(timezone.utc)
    FundingRun.objects.create(symbol="SOL-PERP", funding_time=t - timedelta(hours=3), status="settled", started_at=now)
    position = position_open(user=make_user(), side="long", leverage=D(10), margin=D(100), client_order_id="a").position
    backdate(position, to=t)
    assert funding_settle_due_task.run() == 1
    runs = dict(FundingRun.objects.filter(symbol="SOL-PERP").values_list("funding_time", "status"))
    assert runs == {
        t - timedelta(hours=3): "settled", t - timedelta(hours=2): "skipped", t - timedelta(hours=1): "skipped",
        t: "settled",
    }  # fmt: skip
    assert not FundingRun.objects.filter(symbol="BONK-PERP").exists()
    assert [p.amount for p in FundingPayment.objects.all()] == [D("-0.1")]
    assert funding_settle_due() == []  # nothing due any more (BONK still waits: no outcome)
    assert FundingPayment.objects.count() == 1
    assert_books_ok()


def test_event_text_is_the_dicts():
    """``funding_payment_json`` is exactly ``json.dumps(funding_payment_data(...))``, compact."""
    p = Paid("4b0c8c1e-8a57-4a4e-9d0b-2a7c3b7d5f10", 7, 9, "short", D("0.731000000"), D("100.000913"),
             D("109.452736"), D("0.000913"), D("0.000913"), D("0"), 123)  # fmt: skip
    t = datetime(2026, 12, 7, 17, tzinfo=timezone.utc)
    args = {"symbol": "SOL-PERP", "funding_time": t, "mark": D("100.5"), "rate": D("-0.000012500")}
    data = funding_payment_data(p, **args)
    assert funding_payment_json(p, head=funding_head(**args)) == json.dumps(data, separators=(",", ":"))
    assert data["rate"] == "-0.000012500" and data["funding_time"] == "2026-12-07T17:00:00Z"
