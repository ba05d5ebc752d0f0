"""Races on the real PostgreSQL: the trader's close, the TP/SL engine on the crossing tick and a
second engine run of that tick, on one position (real threads). Exactly one close, one PnL
ledger transaction and one PositionOrder that closed it, every trial."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal as D

import pytest
from django.db import connection

from core.errors import DomainError
from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import set_index_price
from trading.models import Position, PositionEvent, PositionOrder
from trading.services.position_triggers import position_triggers_run
from trading.services.positions import position_close, position_open

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


def test_close_vs_trigger_vs_second_engine_run_has_one_outcome(settings):
    """Each trial: a long with TP 110 and a tick at 111. The manual close wins (a plain close) or an
    engine run wins (a take_profit close); the other run closes nothing, a losing manual close is
    409 position_not_open."""
    settings.PORTFOLIO_START_USD = D(100000)
    user = make_user()
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        set_price(D(100))
        opened = position_open(
            user=user, side="long", leverage=D(10), margin=D(100), client_order_id=f"o-{trial}",
            take_profit_price=D(110),
        )  # fmt: skip
        position_id = opened.position.id
        computed_at = set_index_price("SOL-USD", D(111))

        def close(position_id=position_id, trial=trial) -> str:
            try:
                position_close(user=user, position_id=position_id, client_order_id=f"c-{trial}")
            except DomainError as error:
                return error.code
            return "closed"

        def engine(computed_at=computed_at) -> str:
            report = position_triggers_run(index_symbol="SOL-USD", price=D(111), computed_at=computed_at)
            return "triggered" if report.closed else "none"

        results = _race(close, engine, engine)
        assert all(r in {"closed", "position_not_open", "triggered", "none"} for r in results), (trial, results)
        assert sum(r in {"closed", "triggered"} for r in results) == 1, (trial, results)
        position = Position.objects.get(pk=position_id)
        assert position.status == "closed" and position.take_profit_price is None
        closes = PositionEvent.objects.filter(position=position, kind="close")
        pnl = LedgerTransaction.objects.filter(reference_id=str(position_id), reason="realized_pnl")
        records = PositionOrder.objects.filter(position=position, action="close")
        assert (closes.count(), pnl.count(), records.count()) == (1, 1, 1), (trial, results)
        reason = closes.get().reason
        assert reason == ("" if "closed" in results else "take_profit"), (trial, results, reason)
        outcomes[reason or "manual"] += 1
    assert sum(outcomes.values()) == TRIALS
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()
