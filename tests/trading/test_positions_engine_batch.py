"""The engine's set-based batch: exactly the open and crossed positions, a fixed number of
statements whatever the batch size, no leaderboard task (the periodic update follows the ledger),
and the portable path."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolio.models import LedgerTransaction
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, user_events
from trading.models import Position, PositionEvent
from trading.pg import PORTABLE
from trading.services.liquidation import liquidation_run, positions_liquidate
from trading.services.liquidation_batch import liquidate_batch
from trading.services.positions import position_close, position_open

SOL = ["SOL-PERP"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    market_set("SOL-PERP", mmr=D(0))
    settings.POSITION_FEE_BPS = D(0)


def _open(user, side: str, leverage: str, n: int) -> UUID:
    opened = position_open(user=user, side=side, leverage=D(leverage), margin=D(100), client_order_id=f"b-{n}")
    return opened.position.id


ROLES = (("long", "10", "liquidated"), ("long", "2", "open"), ("short", "10", "open"), ("long", "10", "closed"))


def _book(groups: int) -> tuple[list, dict, list]:
    """At 100, per group four traders (positions are net: one open position per trader and market):
    a long 10x (liq 90), a long 2x (liq 50), a short 10x (liq 110) and a long 10x the trader closed.
    Returns (all ids, {id: expected status at a tick of 89}, the liquidated positions' owners)."""
    set_price(D(100))
    ids, expected, owners = [], {}, []
    for n in range(groups * len(ROLES)):
        side, leverage, at_89 = ROLES[n % len(ROLES)]
        user = make_user()
        position_id = _open(user, side, leverage, n)
        if at_89 == "closed":
            position_close(user=user, position_id=position_id, client_order_id=f"x-{n}")
        if at_89 == "liquidated":
            owners.append(user)
        ids.append(position_id)
        expected[position_id] = at_89
    return ids, expected, owners


def _check(expected: dict, owners) -> None:
    for position_id, status in expected.items():
        position = Position.objects.get(pk=position_id)
        assert position.status == status, (position_id, status)
        liquidations = PositionEvent.objects.filter(position=position, kind="liquidation")
        txns = LedgerTransaction.objects.filter(reason="liquidation", reference_id=str(position_id))
        assert (liquidations.count(), txns.count()) == ((1, 1) if status == "liquidated" else (0, 0))
        if status == "liquidated":
            event = liquidations.get()
            assert event.ledger_txn == txns.get() and event.price == D(89) and event.realized_pnl == D(-100)
            assert position.exit_price == D(89) and position.closed_at and position.realized_pnl == D(-100)
    for user in owners:
        seqs = list(UserEvent.objects.filter(user=user).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no repeat
        last = user_events(user, "portfolio_update")[-1]["data"]
        assert last["positions"]["open_count"] == 0 and D(last["positions"]["margin_used"]) == 0
        assert D(last["balances"]["USD"]["locked"]) == balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_a_batch_liquidates_exactly_the_open_crossed_positions():
    """Tick 89 over a mixed batch: the crossed longs go, the uncrossed and the already closed stay;
    one history row and one ledger transaction each; the events carry the new state."""
    ids, expected, owners = _book(3)
    set_price(D(89))
    done = positions_liquidate(ids=ids, price=D(89), symbols=SOL, computed_at=datetime.now(timezone.utc))
    assert sorted(done) == sorted(str(i) for i, status in expected.items() if status == "liquidated")
    _check(expected, owners)
    event = user_events(owners[0], "position_liquidated")[0]["data"]
    assert (event["status"], event["price"], event["margin_lost"]) == ("liquidated", "89.000000000", "100.000000000")
    assert positions_liquidate(ids=ids, price=D(89), symbols=SOL) == []  # a second run finds nothing


def test_the_portable_path_gives_the_same_outcome():
    """The ORM path (SQLite, embedded mode) run here on PostgreSQL: same positions, rows and events."""
    ids, expected, owners = _book(2)
    done = liquidate_batch(ids=ids, price=D(89), computed_at=None, symbols=SOL, sql=PORTABLE)
    assert len(done) == 2
    _check(expected, owners)


def test_statements_per_batch_do_not_grow_with_its_size():
    """A batch of 2 crossed positions (of 8) and one of 6 (of 24) run the same number of statements."""
    counts = []
    for groups in (2, 6):
        ids, _expected, _owners = _book(groups)
        set_price(D(89))
        with CaptureQueriesContext(connection) as queries:
            assert len(positions_liquidate(ids=ids, price=D(89), symbols=SOL)) == groups
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_a_tick_queues_no_leaderboard_task_and_the_periodic_update_ranks_its_accounts(
    settings, tasks_sent, django_capture_on_commit_callbacks
):
    """Batches of one position: the tick sends no Celery task, on commit either; the board keeps
    the owners' rows (valued with their open positions) until the periodic update, which rewrites
    every liquidated account at once: the margin lost, no position left."""
    from portfolio.leaderboard import leaderboard_list
    from portfolio.leaderboard_changes import leaderboard_update_changed

    def equities() -> set[D]:
        board = {r["trader"]: D(r["equity"]) for r in leaderboard_list(period="all", metric="equity", limit=1000)}
        return {board[f"{u.address[:4]}…{u.address[-4:]}"] for u in owners}

    settings.POSITION_LIQUIDATION_BATCH = 1
    _ids, _expected, owners = _book(3)
    set_price(D(95))
    leaderboard_update_changed()  # the first run: the whole board, then where the ledger ends
    assert equities() == {D(9950)}  # 10 SOL long from 100, marked at 95
    set_price(D(89))
    with django_capture_on_commit_callbacks(execute=True):
        report = liquidation_run(price=D(89), computed_at=datetime.now(timezone.utc))
    assert len(report.liquidated) == 3 and tasks_sent == []
    assert equities() == {D(9950)}  # the rows as the last run wrote them
    assert leaderboard_update_changed() == 3
    assert equities() == {D(9900)}  # the 100 of margin, gone
