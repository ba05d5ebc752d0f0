"""Races on the real PostgreSQL, 100 trials each: a replace against the tick that crosses the
order, and a cancel, a replace and a second engine run against the tick that triggers a stop --
exactly one outcome each, every hold released exactly once (the books reconcile)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.race_helpers import race
from tests.trading.test_limit_races import _resting, _tick
from trading.errors import OrderNotCancelable, OrderNotReplaceable
from trading.models import Fill, Order, OrderStatus
from trading.services.order_end import order_cancel
from trading.services.order_replace import order_replace
from trading.services.stop_orders import stop_order_place
from trading.services.stop_triggers import stop_triggers_run

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 100


def _stop(user, n: int) -> Order:
    placed = stop_order_place(
        user=user, client_order_id=f"s-{n}", symbol="SOL-USD", side="buy", type="stop", qty=D("0.1"),
        stop_price=D("105"),
    )  # fmt: skip
    return placed.order


def _stop_tick():
    return stop_triggers_run(index_symbol="SOL-USD", price=D("106"), computed_at=datetime.now(timezone.utc))


def _held_matches_open_orders(user) -> None:
    """locked USD = what the open orders hold (no position here): released exactly once."""
    open_held = sum((o.held for o in Order.objects.filter(user=user, status=OrderStatus.NEW)), D(0))
    assert balances_of(user)["USD_locked"] == open_held


def test_replace_against_the_crossing_tick_has_one_outcome():
    """The old order fills (the replace is 409) or is replaced (the new one, at 90, rests)."""
    user = make_user()
    set_price(D("100"))
    for n in range(TRIALS):
        set_price(D("100"))
        order = _resting(user, n)
        replace = lambda order=order, n=n: order_replace(  # noqa: E731
            user=user, order_id=order.pk, client_order_id=f"rr-{n}", limit_price=D("90")
        )
        replaced, tick = race(replace, _tick)
        final = Order.objects.get(pk=order.pk)
        if final.status == OrderStatus.FILLED:
            assert isinstance(replaced, OrderNotReplaceable) and tick.filled == [str(order.pk)]
        else:
            assert final.status == OrderStatus.REPLACED and replaced.order.status == OrderStatus.NEW
            assert tick.filled == [] and not Fill.objects.filter(order=final).exists()
            order_cancel(user=user, order_id=replaced.order.pk)
        _held_matches_open_orders(user)
    assert_books_ok()


def test_cancel_replace_and_two_engine_runs_against_the_stop_trigger_have_one_outcome():
    """Per trial one waiting stop (0.1 SOL), raced by a cancel, a replace (stop 104) and two engine runs."""
    user = make_user()
    set_price(D("100"))
    for n in range(TRIALS):
        set_price(D("100"))  # fresh for each trial's placement
        order = _stop(user, n)
        replace = lambda order=order, n=n: order_replace(  # noqa: E731
            user=user, order_id=order.pk, client_order_id=f"sr-{n}", stop_price=D("104")
        )
        cancel, replaced, first, second = race(
            lambda order=order: order_cancel(user=user, order_id=order.pk), replace, _stop_tick, _stop_tick
        )
        final = Order.objects.get(pk=order.pk)
        fills = Fill.objects.filter(order=final).count()
        winners = [not isinstance(cancel, Exception), not isinstance(replaced, Exception)]
        filled_by = first.filled + second.filled
        assert sum(winners) + len(filled_by) == 1, (final.status, cancel, replaced, filled_by)
        assert fills == (1 if final.status == OrderStatus.FILLED else 0)
        assert isinstance(cancel, Exception) == (final.status != OrderStatus.CANCELED)
        if isinstance(cancel, Exception):
            assert isinstance(cancel, OrderNotCancelable)
        if final.status == OrderStatus.REPLACED:
            order_cancel(user=user, order_id=replaced.order.pk)
        _held_matches_open_orders(user)
    assert_books_ok()
