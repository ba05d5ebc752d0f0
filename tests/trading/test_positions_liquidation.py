"""The liquidation engine on real PostgreSQL: crossing, insurance, staleness gate, tick signal, sweep, index."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from django.db import connection

from core import hooks
from portfolio.models import Balance, LedgerAccount, LedgerTransaction
from pricing.selectors import quote_from_record
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import clear_price, set_price
from tests.trading.position_helpers import market_set, open_position, tick, user_events
from trading.models import Position, PositionEvent, PositionStatus
from trading.services.liquidation import liquidation_candidates, liquidation_run
from trading.tasks import liquidation_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    market_set("SOL-PERP", mmr=D("0.005"))
    settings.POSITION_FEE_BPS = D(10)


def insurance_total() -> D:
    account = LedgerAccount.objects.filter(code="insurance").first()
    if account is None:
        return D(0)
    return sum((b.total for b in Balance.objects.filter(account=account, asset="USD")), D(0))


def test_tick_above_the_liquidation_price_does_nothing(trader, user):
    """Long 10x at 100 (liq 90.452262): a tick at 90.46 leaves it open."""
    set_price(D(100))
    open_position(trader)
    assert tick(D("90.46")) == []
    assert Position.objects.get().status == PositionStatus.OPEN
    assert_books_ok()


def test_long_liquidated_at_the_tick_with_residue_to_insurance(trader, user):
    """Tick at 90.4 crosses 90.452262: closed at 90.4, pnl -96 to the house, residue 4 to insurance;
    the trader loses exactly the 100 margin; position_liquidated and portfolio_update are stored."""
    set_price(D(100))
    position = open_position(trader)
    before = balances_of(user)["USD"]
    assert tick(D("90.4")) == [position["id"]]
    row = Position.objects.get()
    assert row.status == PositionStatus.LIQUIDATED and row.exit_price == D("90.4") and row.closed_at
    balances = balances_of(user)
    assert balances["USD"] == before and balances["USD_locked"] == 0
    assert insurance_total() == D(4)
    event = PositionEvent.objects.get(kind="liquidation")
    assert (event.realized_pnl, event.insurance, event.price) == (D(-100), D(4), D("90.4"))
    assert LedgerTransaction.objects.get(reason="liquidation").reference_id == position["id"]
    liquidated = user_events(user, "position_liquidated")
    assert len(liquidated) == 1 and liquidated[0]["data"]["position_id"] == position["id"]
    assert D(liquidated[0]["data"]["pnl_at_price"]) == D(-96)
    assert D(user_events(user, "portfolio_update")[-1]["data"]["balances"]["USD"]["locked"]) == 0
    assert_books_ok()


def test_gap_through_bankruptcy_is_paid_by_insurance(trader, user):
    """Short 10x at 100 (bankruptcy 110); the price gaps to 125: pnl -250, the trader loses only 100,
    insurance pays 150 to the house."""
    set_price(D(100))
    open_position(trader, side="short")
    before = balances_of(user)["USD"]
    assert len(tick(D(125))) == 1
    assert balances_of(user)["USD"] == before and balances_of(user)["USD_locked"] == 0
    assert insurance_total() == D(-150)
    assert_books_ok()


@pytest.mark.parametrize(("leverage", "mmr", "liq"), [("2", "0", "50"), ("5", "0.005", "80.402011"), ("20", "0", "95")])
def test_longs_at_several_leverages_liquidate_exactly_at_their_price(trader, user, settings, leverage, mmr, liq):
    """Each leverage's liquidation price is hand-computed; a tick 1 micro-dollar above leaves it, at it liquidates."""
    market_set("SOL-PERP", mmr=D(mmr))
    set_price(D(100))
    position = open_position(trader, leverage=leverage)
    assert D(position["liquidation_price"]) == D(liq)
    assert tick(D(liq) + D("0.000001")) == []
    assert tick(D(liq)) == [position["id"]]
    assert_books_ok()


def test_stale_tick_never_liquidates(trader, user):
    """A tick whose computed_at is older than the budget, or no fresh price at all: nothing happens."""
    set_price(D(100))
    open_position(trader)
    old = datetime.now(timezone.utc) - timedelta(seconds=600)
    report = liquidation_run(price=D(50), computed_at=old)
    assert report.skipped == "price_stale" and report.liquidated == []
    clear_price()
    report = liquidation_run(price=D(50), computed_at=datetime.now(timezone.utc))
    assert report.skipped == "price_unavailable"
    set_price(D(50), age_seconds=600)
    assert liquidation_run(price=D(50), computed_at=datetime.now(timezone.utc)).skipped == "price_stale"
    assert Position.objects.get().status == PositionStatus.OPEN
    assert_books_ok()


def test_price_tick_hook_runs_the_engine(trader, user):
    """pricing's price_tick_accepted hook (registered by trading) reaches the engine (inline in tests)."""
    set_price(D(100))
    open_position(trader)
    set_price(D(80))
    record = {"price": "80", "computed_at": datetime.now(timezone.utc).isoformat(), "sources": ["pyth"]}
    hooks.price_tick_accepted(quote=quote_from_record(record))
    assert Position.objects.get().status == PositionStatus.LIQUIDATED
    assert_books_ok()


def test_sweep_is_the_backstop(trader, user):
    """The periodic sweep liquidates on the latest fresh index when a tick was missed."""
    set_price(D(100))
    open_position(trader, side="short")
    set_price(D(120))
    assert liquidation_sweep.run() == 1
    assert liquidation_sweep.run() == 0
    assert_books_ok()


def test_candidates_use_the_symbol_side_liquidation_index(trader, client_for):
    """The crossed-positions query is range scans of position_open_sym_side_liq, the market in the
    index condition (not a table scan, nor another market's entries)."""
    from tests.portfolio.helpers import make_user

    set_price(D(100))
    open_position(trader)
    open_position(client_for(make_user()), side="short", client_order_id="p-2")
    assert len(liquidation_candidates(price=D(50), symbols=["SOL-PERP"])) == 1
    assert liquidation_candidates(price=D(50), symbols=["BONK-PERP"]) == []
    qs = Position.objects.filter(status="open", symbol="SOL-PERP", side="long", liquidation_price__gte=D(50)).values(
        "id"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE trading_position")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows would otherwise be scanned
    plan = qs.explain()
    assert "position_open_sym_side_liq" in plan and "Index Cond" in plan, plan
    assert "symbol" in plan and "liquidation_price" in plan, plan


def test_batched_events_continue_the_users_seq(trader, user):
    """The engine's batched events take the next seqs after the open's and the increase's events:
    1..n with no gap or repeat."""
    from realtime.models import UserEvent

    set_price(D(100))
    open_position(trader)
    open_position(trader, client_order_id="p-2", leverage="20")  # the same side: increases it
    tick(D(80))
    seqs = list(UserEvent.objects.filter(user=user).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(UserEvent.objects.filter(user=user).order_by("seq").values_list("type", flat=True))
    assert types == [*["position_update", "portfolio_update"] * 2, "position_liquidated", "portfolio_update"]
