"""Races on the real PostgreSQL: a cancel against the tick that crosses the order, and two engine
runs of one tick -- exactly one outcome each, the hold released exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.race_helpers import race
from trading.errors import OrderNotCancelable
from trading.models import Fill, Order, OrderStatus
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel
from trading.services.order_triggers import order_triggers_run

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 100


def _resting(user, n: int) -> Order:
    placed = limit_order_place(
        user=user, client_order_id=f"r-{n}", symbol="SOL-USD", side="buy", qty=D("1"), limit_price=D("95")
    )
    assert placed.order.status == OrderStatus.NEW
    return placed.order


def _tick():
    return order_triggers_run(index_symbol="SOL-USD", price=D("94"), computed_at=datetime.now(timezone.utc))


def test_cancel_against_the_crossing_tick_has_one_outcome_and_releases_the_hold_once():
    user = make_user()
    set_price(D("100"))
    outcomes = Counter()
    for n in range(TRIALS):
        order = _resting(user, n)
        cancel, tick = race(lambda order=order: order_cancel(user=user, order_id=order.pk), _tick)
        final = Order.objects.get(pk=order.pk)
        fills = Fill.objects.filter(order=final).count()
        if final.status == OrderStatus.FILLED:
            assert isinstance(cancel, OrderNotCancelable) and fills == 1 and tick.filled == [str(order.pk)]
        else:
            assert final.status == OrderStatus.CANCELED and fills == 0 and tick.filled == []
        assert final.held == 0 and balances_of(user)["USD_locked"] == 0
        outcomes[final.status] += 1
    assert sum(outcomes.values()) == TRIALS
    assert_books_ok()


def test_two_engine_runs_of_one_tick_fill_each_order_once():
    user = make_user()
    set_price(D("100"))
    for n in range(TRIALS):
        order = _resting(user, n)
        first, second = race(_tick, _tick)
        assert sorted(first.filled + second.filled) == [str(order.pk)]
        assert Fill.objects.filter(order=order).count() == 1
        assert balances_of(user)["USD_locked"] == 0
    assert Order.objects.filter(user=user, status=OrderStatus.FILLED).count() == TRIALS
    assert_books_ok()
