"""Races on the real PostgreSQL: the trader's cancel of a resting limit entry, the tick that
crosses it and a second engine run of that tick (real threads). One outcome each trial: filled
once (one position record, one margin posting) or canceled, and the hold released exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal as D

import pytest
from django.db import connection

from core.errors import DomainError
from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import set_index_price
from trading.models import Order, PositionOrder
from trading.services.order_end import order_cancel
from trading.services.position_entries import position_entries_run, position_entry_place
from trading.services.positions import position_close

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 20


def _race(*jobs) -> list:
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = jobs[index]()
        except Exception as exc:  # the loser's answer, kept to assert on
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_cancel_vs_fill_vs_second_run_has_one_outcome_and_releases_the_hold_once(settings):
    settings.PORTFOLIO_START_USD = D(100000)
    user = make_user()
    outcomes: Counter = Counter()  # both outcomes occur (13 filled / 7 canceled in a run)
    for trial in range(TRIALS):
        set_price(D(100))
        placed = position_entry_place(
            user=user, client_order_id=f"e-{trial}", symbol="SOL-PERP", side="long", leverage=D(10), qty=D(1),
            limit_price=D(95),
        )  # fmt: skip
        order_id = placed.order.pk
        computed_at = set_index_price("SOL-USD", D(94))

        def cancel(order_id=order_id, trial=trial) -> str:
            time.sleep((trial % 5) * 0.005)  # the engine reads more before its locks: let it win some
            try:
                order_cancel(user=user, order_id=order_id)
            except DomainError as error:
                return error.code
            return "canceled"

        def engine(computed_at=computed_at) -> str:
            report = position_entries_run(index_symbol="SOL-USD", price=D(94), computed_at=computed_at)
            return "filled" if report.filled else "none"

        results = _race(cancel, engine, engine)
        assert sum(r in {"canceled", "filled"} for r in results) == 1, (trial, results)
        order = Order.objects.get(pk=order_id)
        releases = LedgerTransaction.objects.filter(reference_id=str(order_id), reason="hold").count()
        records = PositionOrder.objects.filter(client_order_id=f"entry:{order_id}").count()
        assert order.held == 0 and releases == 2, (trial, results)  # the hold and its one release
        assert records == (1 if order.status == "filled" else 0), (trial, results)
        assert ("canceled" in results) == (order.status == "canceled"), (trial, results)
        outcomes[order.status] += 1
        position = PositionOrder.objects.filter(user=user).order_by("-created_at").values_list("position_id", flat=True)
        if order.status == "filled":  # flat again for the next trial
            set_price(D(94))
            position_close(user=user, position_id=position.first(), client_order_id=f"c-{trial}")
    assert sum(outcomes.values()) == TRIALS
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()
