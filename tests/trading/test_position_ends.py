"""The positions' engines on a quiet tick: the TP/SL, liquidation and limit-entry engines each
send one statement (the probe of their partial indexes' ends) when the tick can cross nothing,
and still find what a crossing tick crosses. The probes answer what their ORM twins answer and
their PostgreSQL statements can use the partial indexes.

Figures (SOL-PERP, mmr 0.5%, no slippage): a long of margin 100 at 10x at 100 liquidates at
90.452262; a short of margin 100 at 5x at 100 (qty 5) liquidates at about 119.4."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.portfolio.helpers import make_user
from tests.trading.position_helpers import open_position, perp_book_setup, set_index_price
from trading import position_ends_pg
from trading.models import Position
from trading.position_ends_pg import LiquidationEnds, TpslEnds, liquidation_ends, tpsl_ends
from trading.services.liquidation import liquidation_run
from trading.services.position_entries import entries_may_cross, position_entries_run
from trading.services.position_triggers import position_triggers_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    perp_book_setup(settings)


@pytest.fixture
def book(trader, client_for):
    """A long with TP 110 / SL 95, a short with TP 90 (no SL), a plain long at 5x."""
    open_position(trader, take_profit_price="110", stop_loss_price="95")
    open_position(client_for(make_user()), side="short", leverage="5", take_profit_price="90", client_order_id="p-2")
    open_position(client_for(make_user()), leverage="5", client_order_id="p-3")


def test_the_probes_give_the_ends_of_the_open_positions_like_their_orm_twins(book):
    long_top = max(p.liquidation_price for p in Position.objects.filter(side="long"))
    short_low = Position.objects.get(side="short").liquidation_price
    assert long_top == D("90.452262")
    expected_liq = LiquidationEnds(long_top, short_low)
    expected_tpsl = TpslEnds(D(95), None, D(110), D(90))
    assert liquidation_ends(symbols=["SOL-PERP"]) == expected_liq
    assert tpsl_ends(symbols=["SOL-PERP", "JUP-PERP"]) == expected_tpsl
    assert liquidation_ends(symbols=["JUP-PERP"]) == (None, None)
    orm = position_ends_pg._ends_orm  # the SQLite twin, asked the same on this database
    assert orm(["SOL-PERP"], ("liquidation_price", "long", position_ends_pg.Max)) == [long_top]
    assert orm(["SOL-PERP"], ("stop_loss_price", "short", position_ends_pg.Min)) == [None]
    assert orm(["SOL-PERP"], ("take_profit_price", "short", position_ends_pg.Max)) == [D(90)]


@pytest.mark.parametrize(
    ("price", "liquidation", "tpsl"),
    [
        (D(100), False, False),
        (D("95.5"), False, False),
        (D(95), False, True),  # the long's stop-loss
        (D("90.4"), True, True),  # the longs' liquidation (and the short's take-profit)
        (D(110), False, True),  # the long's take-profit
        (D(125), True, True),  # the short's liquidation
    ],
)
def test_crossed_by_is_true_exactly_when_a_position_may_cross(book, price, liquidation, tpsl):
    assert liquidation_ends(symbols=["SOL-PERP"]).crossed_by(price) is liquidation
    assert tpsl_ends(symbols=["SOL-PERP"]).crossed_by(price) is tpsl


def test_a_quiet_tick_costs_each_position_engine_one_statement(book):
    now = datetime.now(timezone.utc)
    for run in (
        lambda: position_triggers_run(index_symbol="SOL-USD", price=D(100), computed_at=now),
        lambda: liquidation_run(index_symbol="SOL-USD", price=D(100), computed_at=now),
        lambda: position_entries_run(index_symbol="SOL-USD", price=D(100), computed_at=now),
    ):
        with CaptureQueriesContext(connection) as queries:
            report = run()
        (probe,) = queries.captured_queries  # the probe of the ends, no candidates' query
        assert "unnest" in probe["sql"] and "LIMIT 1" in probe["sql"], probe
        assert not getattr(report, "closed", None) and not getattr(report, "liquidated", None)


def test_a_crossing_tick_still_acts_after_the_probe(book):
    computed_at = set_index_price("SOL-USD", D(95))
    report = position_triggers_run(index_symbol="SOL-USD", price=D(95), computed_at=computed_at)
    assert [kind for _id, kind in report.closed] == ["stop_loss"]
    assert Position.objects.get(side="long", take_profit_price__isnull=True, status="closed")


def test_the_entries_probe_reads_the_resting_limit_index_of_the_perp_markets(trader):
    open_position(trader, type="limit", margin=..., qty="1", limit_price="97", client_order_id="e-1")
    assert not entries_may_cross(price=D("97.01"), symbols=["SOL-PERP"])
    assert entries_may_cross(price=D(97), symbols=["SOL-PERP"])


def test_the_probes_can_use_the_partial_indexes(book):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE trading_position")
        cursor.execute("SET LOCAL enable_seqscan = off")
        for statement, indexes in (
            (position_ends_pg.LIQUIDATION_ENDS_SQL, {"position_open_sym_side_liq": 2}),
            (position_ends_pg.TPSL_ENDS_SQL, {"position_open_sym_side_sl": 2, "position_open_sym_side_tp": 2}),
        ):
            cursor.execute(f"EXPLAIN {statement}", [["SOL-PERP"]])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for index, count in indexes.items():
                assert plan.count(index) == count, plan


def test_the_tick_task_on_a_quiet_tick_sends_one_statement_and_acts_on_a_crossing_one(book, trader):
    """The tick probe (``trading.tick_ends_pg``): the engines' probes in one statement, with the
    same answers as each alone; a tick that crosses nothing stops there; a buy limit at 99 is
    crossed by an ask of 99 (not by the index 100), a tick at 95 closes the long by its SL."""
    from trading.services.limit_orders import limit_order_place
    from trading.tasks import liquidate_on_tick
    from trading.tick_ends_pg import tick_ends, tick_may_act
    from trading.trigger_pg import trigger_statements

    user = make_user()
    limit_order_place(user=user, client_order_id="b99", symbol="SOL-USD", side="buy", qty=D(1), limit_price=D(99))
    ends = tick_ends(perps=["SOL-PERP"], spots=["SOL-USD"])
    sql = trigger_statements()
    assert ends.tpsl == tpsl_ends(symbols=["SOL-PERP"]) and ends.liquidation == liquidation_ends(symbols=["SOL-PERP"])
    assert (ends.entries, ends.stops, ends.limits) == (
        sql.limit_ends(symbols=["SOL-PERP"]), sql.stop_ends(symbols=["SOL-USD"]), (D(99), None),
    )  # fmt: skip
    assert not tick_may_act(index_symbol="SOL-USD", price=D(100), bid=None, ask=None)
    assert tick_may_act(index_symbol="SOL-USD", price=D(100), bid=D("99.5"), ask=D(99))
    assert tick_may_act(index_symbol="SOL-USD", price=D(95), bid=None, ask=None)
    computed_at = set_index_price("SOL-USD", D(100))
    with CaptureQueriesContext(connection) as queries:
        liquidate_on_tick.run("100", computed_at.isoformat(), "SOL-USD")
    assert len(queries.captured_queries) == 1
    computed_at = set_index_price("SOL-USD", D(95))
    liquidate_on_tick.run("95", computed_at.isoformat(), "SOL-USD")
    assert Position.objects.filter(status="closed").count() == 1
