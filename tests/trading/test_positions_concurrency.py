"""Races on the real PostgreSQL: a user's close, the engine and a second engine run on the same
crossed position. Exactly one terminal transition and one PnL ledger transaction, every trial."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from django.db import connection

from core.errors import DomainError
from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from trading.models import Position, PositionEvent
from trading.services.liquidation import liquidation_run
from trading.services.positions import position_close, position_open

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 100


def _race(user, position_id, price: D) -> list:
    barrier = threading.Barrier(3)
    results: list = [None] * 3

    def close() -> str:
        try:
            closed = position_close(user=user, position_id=position_id)
        except DomainError as error:
            return error.code
        # A close of a crossed position is settled as its liquidation.
        return {"close": "closed", "liquidation": "liquidated"}[closed.event.kind]

    def engine() -> str:
        return (
            "liquidated" if liquidation_run(price=price, computed_at=datetime.now(timezone.utc)).liquidated else "none"
        )

    def run(index: int, fn) -> None:
        try:
            barrier.wait()
            results[index] = fn()
        except Exception as exc:  # surfaced by the assertion below
            results[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate((close, engine, engine))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_close_vs_engine_vs_engine_one_terminal_transition_each(settings):
    """100 trials: each position ends closed xor liquidated, with exactly one terminal event and one
    realized_pnl/liquidation ledger transaction; the loser gets position_not_open or finds nothing."""
    settings.PORTFOLIO_START_USD = D(100000)
    user = make_user()
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        set_price(D(100))
        opened = position_open(user=user, side="long", leverage=D(10), margin=D(100), client_order_id=f"race-{trial}")
        crossing = opened.position.liquidation_price - D(1)
        set_price(crossing)
        results = _race(user, opened.position.id, crossing)
        assert all(r in {"closed", "position_not_open", "liquidated", "none"} for r in results), results
        position = Position.objects.get(pk=opened.position.id)
        terminal = PositionEvent.objects.filter(position=position, kind__in=["close", "liquidation"]).count()
        pnl_txns = LedgerTransaction.objects.filter(
            reference_id=str(position.id), reason__in=["realized_pnl", "liquidation"]
        ).count()
        assert (terminal, pnl_txns) == (1, 1), (trial, results)
        winners = [r for r in results if r in {"closed", "liquidated"}]
        assert len(winners) == 1 and winners[0] == position.status, (trial, results, position.status)
        outcomes[position.status] += 1
    assert sum(outcomes.values()) == TRIALS
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()
