"""The TP/SL trigger engine on real PostgreSQL: a crossing tick closes the whole position at
market (the close command: price with slippage, fee, ledger), take-profit and stop-loss, OCO,
before the liquidation of the same tick, only at a fresh tick and only for positions set before it.

Figures (no slippage, fee 10 bps, SOL-PERP mmr 0.5%, start 10,000 USD): a long of margin 100
at 10x at 100 has qty 10, fee 1, liquidation 90.452262, bankruptcy 90; after the open free USD is
10000 - 101 = 9899. A close of all 10 at X pays out 100 + 10·(X − 100) − 10·X·0.001.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from django.db import connection

from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.position_helpers import open_position, perp_book_setup, set_index_price, user_events
from trading.models import Position, PositionEvent, PositionOrder
from trading.services.position_triggers import position_triggers_run, tpsl_candidates
from trading.tasks import liquidate_on_tick, liquidation_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(10))


def tick(price: D) -> None:
    """An accepted SOL-USD tick at ``price`` run through the tick task (TP/SL, then liquidations)."""
    computed_at = set_index_price("SOL-USD", price)
    liquidate_on_tick.run(str(price), computed_at.isoformat(), "SOL-USD")


def insurance_total() -> D:
    from portfolio.models import Balance

    return sum((b.total for b in Balance.objects.filter(account__code="insurance", asset="USD")), D(0))


def test_take_profit_fires_and_closes_the_whole_long_at_market(trader, user):
    """TP 110, tick 110.5: closed at 110.5: pnl 10·10.5 = 105, fee 1.105, payout 100 + 105 - 1.105
    = 203.895 -> free 9899 + 203.895 = 10102.895; both prices cleared; the history row and the
    position_update say take_profit; the record is a close under the id take_profit:<id>."""
    position = open_position(trader, take_profit_price="110", stop_loss_price="95")
    tick(D("110.5"))
    row = Position.objects.get()
    assert (row.status, row.exit_price, row.take_profit_price, row.stop_loss_price) == (
        "closed",
        D("110.5"),
        None,
        None,
    )
    assert balances_of(user)["USD"] == D("10102.895") and balances_of(user)["USD_locked"] == 0
    close = PositionEvent.objects.get(kind="close")
    assert (close.reason, close.realized_pnl, close.fee, close.price) == ("take_profit", D(105), D("1.105"), D("110.5"))
    assert close.price_computed_at is not None
    record = PositionOrder.objects.get(action="close")
    assert (record.client_order_id, record.side, record.qty) == (f"take_profit:{position['id']}", "sell", D(10))
    update = user_events(user, "position_update")[-1]["data"]
    assert (update["reason"], update["status"], update["take_profit_price"]) == ("take_profit", "closed", None)
    assert user_events(user, "portfolio_update")[-1]["data"]["balances"]["USD"]["locked"] == "0.000000000"
    history = trader.get(f"/api/v1/positions/{position['id']}").json()["history"]
    assert [(h["kind"], h["reason"]) for h in history] == [("open", ""), ("close", "take_profit")]
    assert_books_ok()


def test_stop_loss_fires_on_a_long(trader, user):
    """SL 95, tick 94: closed at 94: pnl -60, fee 0.94, payout 39.06 -> free 9938.06."""
    open_position(trader, take_profit_price="110", stop_loss_price="95")
    tick(D(96))
    assert Position.objects.get().status == "open"  # not crossed yet
    tick(D(94))
    row = Position.objects.get()
    assert (row.status, row.exit_price) == ("closed", D(94))
    assert PositionEvent.objects.get(kind="close").reason == "stop_loss"
    assert balances_of(user)["USD"] == D("9938.06")
    assert_books_ok()


def test_take_profit_on_a_short(trader, user):
    """Short 10 at 100 with TP 90; tick 89: bought back at 89: pnl 110, fee 0.89, payout 209.11
    -> free 9899 + 209.11 = 10108.11."""
    open_position(trader, side="short", take_profit_price="90")
    tick(D(89))
    assert Position.objects.get().status == "closed"
    assert PositionEvent.objects.get(kind="close").reason == "take_profit"
    assert balances_of(user)["USD"] == D("10108.11")
    assert_books_ok()


def test_oco_one_firing_cancels_the_other(trader, user):
    """TP fires at 110; a later tick through the old SL finds nothing: one close, one PnL txn."""
    position = open_position(trader, take_profit_price="110", stop_loss_price="95")
    tick(D(110))
    assert tpsl_candidates(price=D(90), symbols=["SOL-PERP"]) == []
    tick(D(94))
    assert PositionEvent.objects.filter(kind="close").count() == 1
    assert LedgerTransaction.objects.filter(reference_id=position["id"], reason="realized_pnl").count() == 1
    assert PositionEvent.objects.get(kind="close").reason == "take_profit"
    assert_books_ok()


def test_a_tick_through_both_stop_and_liquidation_closes_by_the_stop(trader, user):
    """SL 91 (above liq 90.452262); one tick gaps to 90.3, past both: the stop fires first and
    closes at 90.3: pnl -97, fee 0.903, payout 2.097 -> free 9901.097 (a liquidation would have
    taken the whole margin, 3 to insurance). Insurance untouched; no liquidation event."""
    open_position(trader, stop_loss_price="91")
    tick(D("90.3"))
    row = Position.objects.get()
    assert row.status == "closed"
    assert not PositionEvent.objects.filter(kind="liquidation").exists()
    assert PositionEvent.objects.get(kind="close").reason == "stop_loss"
    assert balances_of(user)["USD"] == D("9901.097") and insurance_total() == 0
    assert_books_ok()


def test_a_gap_past_bankruptcy_closes_by_the_stop_and_insurance_pays_the_rest(trader, user):
    """SL 91; a gap to 85: pnl -150, fee 0.85: net -50.85 -> the trader gets 0, insurance pays
    50.85 (the close's rule); still a stop-loss close, not a liquidation."""
    open_position(trader, stop_loss_price="91")
    tick(D(85))
    assert PositionEvent.objects.get(kind="close").reason == "stop_loss"
    assert balances_of(user)["USD"] == D(9899) and insurance_total() == D("-50.85")
    assert_books_ok()


def test_without_a_stop_the_same_tick_liquidates(trader, user):
    open_position(trader)
    tick(D("90.3"))
    assert Position.objects.get().status == "liquidated"


def test_only_positions_set_before_the_tick_fire(trader):
    """A tick computed before the position was opened never fires it (it never traded there)."""
    set_index_price("SOL-USD", D(100), age_seconds=1)
    open_position(trader, take_profit_price="110")
    late = set_index_price("SOL-USD", D(111), age_seconds=0.5)
    report = position_triggers_run(index_symbol="SOL-USD", price=D(111), computed_at=late)
    assert report.candidates == 0 and Position.objects.get().status == "open"


def test_a_stale_or_superseded_tick_does_nothing(trader):
    """A tick at 111 that a newer one (105) superseded, or one past the staleness budget, fires
    nothing, though it crossed the TP."""
    open_position(trader, take_profit_price="110")
    old_tick = datetime.now(timezone.utc)
    set_index_price("SOL-USD", D(105))
    report = position_triggers_run(index_symbol="SOL-USD", price=D(111), computed_at=old_tick)
    assert (report.candidates, report.gate, report.closed) == (1, "superseded", [])
    report = position_triggers_run(index_symbol="SOL-USD", price=D(111), computed_at=old_tick,
                                   now=old_tick + timedelta(minutes=5))  # fmt: skip
    assert report.gate == "price_stale"
    assert Position.objects.get().status == "open"


def test_another_index_never_touches_these_positions(trader):
    open_position(trader, take_profit_price="110")
    computed_at = set_index_price("BONK-USD", D("0.00003"))
    report = position_triggers_run(index_symbol="BONK-USD", price=D(200), computed_at=computed_at)
    assert report.candidates == 0 and Position.objects.get().status == "open"


def test_the_sweep_fires_a_missed_trigger(trader):
    open_position(trader, stop_loss_price="95")
    set_index_price("SOL-USD", D(94))  # accepted, but its tick's task never ran
    liquidation_sweep()
    assert PositionEvent.objects.get(kind="close").reason == "stop_loss"


def test_a_partial_close_keeps_the_prices_and_they_fire_on_the_rest(trader, user):
    """Close 4 of 10 by hand; TP 110 stays on the remaining 6 and closes them at 110."""
    position = open_position(trader, take_profit_price="110")
    url = f"/api/v1/positions/{position['id']}/close"
    assert trader.post(url, {"qty": "4", "client_order_id": "c-1"}, format="json").status_code == 200
    assert Position.objects.get().take_profit_price == D(110)
    tick(D(110))
    close = PositionEvent.objects.filter(kind="close").order_by("created_at").last()
    assert (close.qty, close.reason) == (D(6), "take_profit")
    assert_books_ok()


def test_candidates_use_the_partial_tp_and_sl_indexes(trader, client_for):
    """Range scans of position_open_sym_side_tp / _sl, market and side in the index condition."""
    from tests.portfolio.helpers import make_user

    open_position(trader, take_profit_price="110", stop_loss_price="95")
    open_position(client_for(make_user()), side="short", take_profit_price="90", client_order_id="p-2")
    open_position(client_for(make_user()), client_order_id="p-3")  # neither: in neither index
    assert [kind for _id, _user, kind in tpsl_candidates(price=D(111), symbols=["SOL-PERP"])] == ["take_profit"]
    assert len(tpsl_candidates(price=D(89), symbols=["SOL-PERP"])) == 2  # the long's SL, the short's TP
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE trading_position")
        cursor.execute("SET LOCAL enable_seqscan = off")
    for field, name in (
        ("take_profit_price", "position_open_sym_side_tp"),
        ("stop_loss_price", "position_open_sym_side_sl"),
    ):
        qs = Position.objects.filter(status="open", symbol="SOL-PERP", side="long", **{f"{field}__lte": D(100)})
        plan = qs.values("id").explain()
        assert name in plan and "Index Cond" in plan, plan
