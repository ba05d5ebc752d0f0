"""Scheduling: beat (and the embedded scheduler) settles each perp market's due funding times
once each: the latest, and the missed ones before it (late, oldest first; beyond the catch-up
window recorded as skipped, never charged); a market without a fresh price waits for the next
beat. The event's JSON text is the dict's, byte for byte."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from portfolio.models import Balance
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.funding_helpers import backdate, last_funding_time, set_perp
from tests.trading.helpers import clear_price
from tests.trading.position_helpers import perp_book_setup
from trading.funding_maths import funding_time_at_or_before, funding_time_next
from trading.funding_payloads import funding_payment_data, funding_portfolio_data
from trading.funding_tasks import funding_settle_due_task
from trading.models import FundingPayment, FundingRun
from trading.services.funding import funding_settle, funding_settle_due
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


def test_beat_settles_each_missed_time_once_late(settings):
    """The last run of SOL-PERP was 3 hours before the latest funding time: the two missed times
    between are settled late, oldest first, then the latest (the long pays each time); a second
    beat does nothing; BONK-PERP, with no fresh price, waits."""
    assert settings.CELERY_BEAT_SCHEDULE["trading-funding-settle"]["task"] == "trading.funding_settle_due"
    clear_price("BONK-USD")
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    t = last_funding_time()
    now = datetime.now(timezone.utc)
    FundingRun.objects.create(symbol="SOL-PERP", funding_time=t - timedelta(hours=3), status="settled", started_at=now)
    position = position_open(user=make_user(), side="long", leverage=D(10), margin=D(100), client_order_id="a").position
    backdate(position, to=t - timedelta(hours=2))  # opened before the first missed time
    assert funding_settle_due_task.run() == 3
    runs = FundingRun.objects.filter(symbol="SOL-PERP").order_by("funding_time")
    assert [(r.funding_time, r.status) for r in runs] == [
        (t - timedelta(hours=h), "settled") for h in (3, 2, 1, 0)
    ]  # fmt: skip
    grace = timedelta(seconds=settings.FUNDING_LATE_GRACE_SECONDS)  # 2 hours here
    assert [r.late for r in runs[1:]] == [now > r.funding_time + grace for r in runs[1:]]
    assert runs[1].late  # 2 hours and more after its time
    assert not FundingRun.objects.filter(symbol="BONK-PERP").exists()
    paid = FundingPayment.objects.order_by("funding_time")
    assert [(p.funding_time, p.amount) for p in paid] == [(t - timedelta(hours=h), D("-0.1")) for h in (2, 1, 0)]
    assert funding_settle_due() == []  # nothing due any more (BONK still waits: no outcome)
    assert FundingPayment.objects.count() == 3


def test_a_wait_is_a_warning_once_then_debug_each_beat(caplog):
    """BONK-PERP has no price (nor have the other perps but SOL-PERP's): the first beat warns that
    its funding time waits, the next ones (every 30 s) say it at debug level only."""
    import logging

    from trading.services import funding

    funding._waits_said.clear()
    clear_price("BONK-USD")
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    with caplog.at_level(logging.DEBUG, logger="trading.funding"):
        for _ in range(3):
            funding_settle_due()
    waits = [(r.levelname, r.getMessage()) for r in caplog.records if "BONK-PERP" in r.getMessage()]
    said = f"funding of BONK-PERP @ {last_funding_time().isoformat()} waits: price_unavailable"
    assert waits == [("WARNING", said), ("DEBUG", said), ("DEBUG", said)]


def test_missed_times_beyond_the_catch_up_window_are_skipped(settings):
    """With FUNDING_CATCHUP_INTERVALS=1 and four missed times, the oldest three are recorded as
    skipped (never charged); the one in the window and the latest are settled."""
    settings.FUNDING_CATCHUP_INTERVALS = 1
    clear_price("BONK-USD")
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    t = last_funding_time()
    now = datetime.now(timezone.utc)
    FundingRun.objects.create(symbol="SOL-PERP", funding_time=t - timedelta(hours=5), status="settled", started_at=now)
    position = position_open(user=make_user(), side="long", leverage=D(10), margin=D(100), client_order_id="a").position
    backdate(position, to=t - timedelta(hours=5))
    assert len(funding_settle_due()) == 2
    runs = dict(FundingRun.objects.filter(symbol="SOL-PERP").values_list("funding_time", "status"))
    assert runs == {
        t - timedelta(hours=5): "settled", t - timedelta(hours=4): "skipped", t - timedelta(hours=3): "skipped",
        t - timedelta(hours=2): "skipped", t - timedelta(hours=1): "settled", t: "settled",
    }  # fmt: skip
    assert sorted(FundingPayment.objects.values_list("funding_time", flat=True)) == [t - timedelta(hours=1), t]
    assert_books_ok()
    assert_books_ok()


def test_event_texts_are_the_dicts():
    """The statement's ``funding_payment`` and ``portfolio_update`` texts (PostgreSQL writes them)
    are exactly ``json.dumps`` of ``trading.funding_payloads``' dicts, compact, key for key."""
    set_perp(D(100), mark=D("100.5"), rate=D("-0.0000125"))
    t = last_funding_time()
    user = make_user()
    position = position_open(user=user, side="short", leverage=D(3), margin=D("73.1"), client_order_id="a").position
    backdate(position, to=t)
    funding_settle(symbol="SOL-PERP", funding_time=t)
    payment, update = (e.payload for e in UserEvent.objects.filter(user=user).order_by("-seq")[:2][::-1])
    stored = {e.type: e for e in UserEvent.objects.filter(user=user, type__in=["funding_payment", "portfolio_update"])}
    position.refresh_from_db()
    pay = FundingPayment.objects.get()
    want = funding_payment_data(
        position_id=str(position.pk), symbol="SOL-PERP", funding_time=t, mark=D("100.5"), rate=D("-0.000012500"),
        side="short", qty=position.qty, amount=pay.amount, insurance=pay.insurance, margin=position.margin,
        liquidation_price=position.liquidation_price, funding_accrued=position.funding_accrued,
    )  # fmt: skip
    assert payment["type"] == "funding_payment" and payment["data"] == want
    usd = Balance.objects.get(account__user=user, asset="USD")
    assert update["type"] == "portfolio_update" and update["data"] == funding_portfolio_data(
        epoch=1, total=usd.total, locked=usd.locked, open_count=1, margin_used=position.margin
    )
    assert pay.amount < 0 and want["rate"] == "-0.000012500" and want["funding_time"].endswith(":00:00Z")
    assert set(stored) == {"funding_payment", "portfolio_update"}
    for kind, data in (("funding_payment", want), ("portfolio_update", update["data"])):
        text = json.dumps(data, separators=(",", ":"))
        assert f'"data":{text}' in _published_text(stored[kind]), kind


def _published_text(event) -> str:
    """The text stored for the event (what was published): the payload column as written."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM realtime_user_event WHERE id = %s", [event.pk])
        return cursor.fetchone()[0].replace(": ", ":").replace(", ", ",")


def test_delisted_market_is_funded_only_while_positions_are_open():
    """A delisted perp market has no price to wait for once nothing is open on it; while a position
    is, it pays like any other."""
    from tests.trading.position_helpers import market_set
    from trading.services.funding import _funded_markets

    position = position_open(user=make_user(), side="long", leverage=D(2), margin=D(50), client_order_id="d").position
    market_set("SOL-PERP", status="delisted")
    assert "SOL-PERP" in _funded_markets()
    from trading.models import Position

    Position.objects.filter(pk=position.pk).update(status="closed", closed_at=position.opened_at)
    assert "SOL-PERP" not in _funded_markets() and "BONK-PERP" in _funded_markets()
