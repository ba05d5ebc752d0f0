"""A tick that waited in the queue (issue 14, item 1): it acts only on positions whose liquidation
price was set before it, and not at all once a newer tick is the latest accepted price."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from portfolio.models import LedgerTransaction
from pricing.selectors import price_get_latest
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from trading.models import Position
from trading.services.liquidation import liquidation_lane_run, liquidation_run
from trading.services.positions import position_close, position_open

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)


def _long(user, coid: str = "p-1", leverage: str = "10") -> Position:
    return position_open(user=user, side="long", leverage=D(leverage), margin=D(100), client_order_id=coid).position


def test_a_late_tick_never_liquidates_a_position_opened_after_it():
    """Tick 89 computed at t0 (still the latest record) runs late: a long opened after t0 (at an
    earlier quote of 100, liq ~90.45) stays open and gets no ledger transaction; the next fresh
    tick at 89 liquidates it."""
    set_price(D(100), age_seconds=4)
    user = make_user()
    position = _long(user)
    set_price(D(89), age_seconds=2)  # the tick's record: computed 2 s ago, before the open
    t0 = price_get_latest().computed_at
    assert t0 < Position.objects.get(pk=position.pk).updated_at
    late = liquidation_run(price=D(89), computed_at=t0)
    assert late.skipped is None and late.candidates == 0 and late.liquidated == []
    assert Position.objects.get(pk=position.pk).status == "open"
    assert not LedgerTransaction.objects.filter(reason="liquidation").exists()
    set_price(D(89))
    fresh = liquidation_run(price=D(89), computed_at=datetime.now(timezone.utc))
    assert fresh.liquidated == [str(position.pk)]
    assert_books_ok()


def test_a_late_tick_skips_a_position_reduced_after_it():
    """Opened before the tick, partly closed after it (its liquidation price set anew): the late
    tick leaves it alone; the next tick judges it."""
    set_price(D(100), age_seconds=4)
    user = make_user()
    position = _long(user, leverage="20")  # liq ~95.5
    time.sleep(0.2)
    between = datetime.now(timezone.utc)
    time.sleep(0.2)
    position_close(user=user, position_id=position.pk, qty=D("1"), client_order_id="c-1")
    # the late tick's record: computed between the open and the close
    set_price(D(90), age_seconds=(datetime.now(timezone.utc) - between).total_seconds())
    t0 = price_get_latest().computed_at
    reduced_at = Position.objects.get(pk=position.pk).updated_at
    assert position.opened_at < t0 < reduced_at
    assert liquidation_run(price=D(90), computed_at=t0).liquidated == []
    assert Position.objects.get(pk=position.pk).status == "open"
    assert_books_ok()


def test_a_superseded_tick_does_not_liquidate_at_its_own_price():
    """Tick 89 waited while a newer tick (100) was accepted: it is no longer the latest price and
    liquidates nothing (``superseded``), although the position was open before it."""
    user = make_user()
    set_price(D(100), age_seconds=3)
    position = _long(user)
    t_late = datetime.now(timezone.utc)
    set_price(D(100))  # a newer accepted tick: the price recovered
    report = liquidation_run(price=D(89), computed_at=t_late)
    assert report.skipped == "superseded" and report.liquidated == []
    assert liquidation_lane_run(ids=[position.pk], price=D(89), computed_at=t_late) == []
    assert Position.objects.get(pk=position.pk).status == "open"
    assert_books_ok()


def test_the_latest_tick_still_liquidates_what_it_crossed():
    """The tick that is the latest record liquidates positions set before it, at its price."""
    set_price(D(100), age_seconds=2)
    user = make_user()
    position = _long(user)
    set_price(D(89))
    latest = price_get_latest()
    report = liquidation_run(price=latest.price, computed_at=latest.computed_at)
    assert report.skipped is None and report.liquidated == [str(position.pk)]
    assert_books_ok()
