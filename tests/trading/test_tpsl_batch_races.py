"""Races on the real PostgreSQL against the TP/SL batch (real threads): on one tick, two engine
runs (each closing its candidates in one batch), a TP/SL edit of one trader's position and a
manual close of another's. Every trial: one outcome per position, one close, one PnL ledger
transaction and one closing record at most, the books balanced."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal as D

import pytest

from core.errors import DomainError
from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import set_index_price
from tests.trading.race_helpers import race
from trading.models import Position, PositionEvent, PositionOrder
from trading.services.position_triggers import position_triggers_run
from trading.services.positions import position_close, position_open, position_tpsl_set

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 20


def _open(user, cid: str):
    return position_open(
        user=user, side="long", leverage=D(10), margin=D(100), client_order_id=cid, take_profit_price=D(110)
    ).position


def _closes(position) -> tuple[int, int, int]:
    return (
        PositionEvent.objects.filter(position=position, kind="close").count(),
        LedgerTransaction.objects.filter(reference_id=str(position.pk), reason="realized_pnl").count(),
        PositionOrder.objects.filter(position=position, action="close").count(),
    )


def test_edit_and_close_vs_two_engine_runs_have_one_outcome_each():
    """A (TP 110) is edited to TP 115 (at once, or a little later in some trials) while the tick
    at 111 fires it: the edit wins (A stays open with TP 115, no close) or the engine does (a
    take_profit close; the edit is 409). B (TP 110) is closed by hand or by the engine, once. The
    second engine run closes nothing."""
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        set_price(D(100))
        a, b = make_user(), make_user()
        pa, pb = _open(a, f"a-{trial}"), _open(b, f"b-{trial}")
        computed_at = set_index_price("SOL-USD", D(111))

        def edit(pa=pa, a=a, delay=(trial % 4) * 0.05) -> str:
            time.sleep(delay)  # some trials let the engine run first
            try:
                position_tpsl_set(user=a, position_id=pa.pk, take_profit_price=D(115))
            except DomainError as error:
                return error.code
            return "edited"

        def close(pb=pb, b=b, trial=trial) -> str:
            try:
                position_close(user=b, position_id=pb.pk, client_order_id=f"c-{trial}")
            except DomainError as error:
                return error.code
            return "closed"

        def engine(computed_at=computed_at) -> int:
            return len(position_triggers_run(index_symbol="SOL-USD", price=D(111), computed_at=computed_at).closed)

        edited, closed, *runs = race(edit, close, engine, engine)
        assert edited in {"edited", "position_not_open"} and closed in {"closed", "position_not_open"}, (
            trial, edited, closed, runs,
        )  # fmt: skip
        row_a, row_b = Position.objects.get(pk=pa.pk), Position.objects.get(pk=pb.pk)
        if edited == "edited":
            assert (row_a.status, row_a.take_profit_price, _closes(row_a)) == ("open", D(115), (0, 0, 0)), trial
        else:
            assert row_a.status == "closed" and _closes(row_a) == (1, 1, 1), trial
            assert PositionEvent.objects.get(position=row_a, kind="close").reason == "take_profit"
        assert row_b.status == "closed" and _closes(row_b) == (1, 1, 1), (trial, closed, runs)
        reason_b = PositionEvent.objects.get(position=row_b, kind="close").reason
        assert reason_b == ("" if closed == "closed" else "take_profit"), (trial, closed, reason_b)
        assert sum(runs) == (edited != "edited") + (closed != "closed"), (trial, edited, closed, runs)
        outcomes[(edited, closed)] += 1
    assert sum(outcomes.values()) == TRIALS
    assert {edited for edited, _closed in outcomes} == {"edited", "position_not_open"}, outcomes  # both won some
    assert_books_ok()
