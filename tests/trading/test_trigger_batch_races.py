"""Races on the real PostgreSQL around the batch: two engine runs of one tick and a trader's
cancel, at once -- every order has exactly one outcome, each fill happens once, each hold is
released exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from portfolio.models import Bucket, LedgerEntry
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.race_helpers import race
from trading.errors import OrderNotCancelable
from trading.models import Fill, Order, OrderStatus
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel
from trading.services.order_triggers import order_triggers_run

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 20


def _tick():
    return order_triggers_run(index_symbol="SOL-USD", price=D("94"), computed_at=datetime.now(timezone.utc))


def _releases(order: Order) -> int:
    """How many times the order's hold went back to free (a negative locked-bucket entry)."""
    return LedgerEntry.objects.filter(
        txn__reference_id=str(order.pk), bucket=Bucket.LOCKED, amount__lt=0, account__user_id=order.user_id
    ).count()


def test_two_engine_runs_and_a_cancel_give_each_order_one_outcome(settings):
    """Per trial three traders rest two buys each at 95; a tick at 94 runs twice at once (batches
    of 2, so each run takes several transactions) while the first trader cancels one order."""
    settings.TRADING_TRIGGER_BATCH = 2
    users = [make_user() for _ in range(3)]
    set_price(D("100"))
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        orders = [
            limit_order_place(
                user=user, client_order_id=f"r{trial}-{n}-{k}", symbol="SOL-USD", side="buy", qty=D("1"),
                limit_price=D("95"),
            ).order
            for n, user in enumerate(users)
            for k in range(2)
        ]  # fmt: skip
        target = orders[0]
        first, second, cancel = race(
            _tick, _tick, lambda target=target: order_cancel(user=users[0], order_id=target.pk)
        )
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        filled = first.filled + second.filled
        assert len(filled) == len(set(filled))  # no order filled by both runs
        for order in orders:
            final = Order.objects.get(pk=order.pk)
            fills = Fill.objects.filter(order=final).count()
            if order is target and final.status == OrderStatus.CANCELED:
                assert fills == 0 and str(order.pk) not in filled and not isinstance(cancel, Exception)
            else:
                assert final.status == OrderStatus.FILLED and fills == 1 and str(order.pk) in filled
                if order is target:
                    assert isinstance(cancel, OrderNotCancelable)
            assert final.held == 0 and _releases(final) == 1
        outcomes[Order.objects.get(pk=target.pk).status] += 1
        for user in users:
            assert balances_of(user)["USD_locked"] == 0
    assert sum(outcomes.values()) == TRIALS
    assert_books_ok()
