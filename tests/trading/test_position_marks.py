"""Perps at mark, end to end on real PostgreSQL and Redis: venue marks in Redis (as the poller stores
them) -> an accepted index tick (``price_tick_accept``) -> its record's perp marks -> the tick hook
-> TP/SL and liquidations at SOL-PERP's mark, limit entries at the index; PnL at mark.

Figures (no slippage, fee 10 bps, SOL-PERP mmr 0.5%, start 10,000 USD): a long of margin 100 at
10x at 100 has qty 10, fee 1, liquidation 90.452262; free USD after the open 9899.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from core import hooks
from core.timefmt import iso_utc
from pricing.aggregate import IndexPrice
from pricing.selectors import price_latest_record
from pricing.services.ticks import price_tick_accept
from pricing.venue_marks import venue_key
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.position_helpers import open_position, perp_book_setup
from trading.models import Position, PositionEvent, PositionStatus
from trading.services.liquidation import liquidation_run, price_gate
from trading.tick_ends_pg import tick_may_act

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def book(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(10))
    settings.PERP_VENUES = ["backpack", "binance", "hyperliquid"]
    settings.PRICE_MARK_MAX_DEVIATION_PCT = D("0.02")


def venue_marks(**marks: str) -> None:
    """Each venue's latest answer for SOL-PERP (``backpack="90.40"``), received now."""
    now = iso_utc(datetime.now(timezone.utc), timespec="microseconds")
    for venue, mark in marks.items():
        stored = {"mark": mark, "index": None, "funding_rate": "0.00001", "interval_hours": 1, "quote": "USDC",
                  "instrument": "SOL", "next_funding_at": None, "received_at": now}  # fmt: skip
        cache.set(venue_key(venue), {"at": now, "marks": {"SOL-PERP": stored}}, timeout=30)


def accept(index: str) -> datetime:
    """An accepted live tick of SOL-USD at ``index`` (the hook runs the engines inline)."""
    at = datetime.now(timezone.utc)
    price = D(index)
    tick = IndexPrice(price=price, bid=None, ask=None, sources=("pyth", "coinbase"), dispersion=D(0),
                      usd_prices={"pyth": price, "coinbase": price})  # fmt: skip
    price_tick_accept(index=tick, mode="live", computed_at=at, symbol="SOL-USD")
    return at


def test_a_long_is_liquidated_when_its_mark_crosses_though_the_index_does_not(trader, user):
    """Venue marks 90.40 / 90.42 (median 90.41) under the 90.452262 liquidation, index 91: the
    quiet-tick probe lets the tick through and the long is liquidated at the mark 90.41."""
    open_position(trader)
    venue_marks(backpack="90.40", binance="90.42")
    accept("91")
    assert price_latest_record("SOL-USD")["perps"]["SOL-PERP"]["mark"] == "90.410000"
    row = Position.objects.get()
    assert (row.status, row.exit_price) == (PositionStatus.LIQUIDATED, D("90.41"))
    assert PositionEvent.objects.get(kind="liquidation").price == D("90.41")
    assert_books_ok()


def test_a_long_is_not_liquidated_when_only_the_index_crosses(trader, user):
    """Index 90.40 crosses 90.452262, but the venues mark SOL-PERP at 91.55: it stays open; a
    liquidation run at the index is refused by the gate (the record marks the perp elsewhere)."""
    open_position(trader)
    venue_marks(backpack="91.50", binance="91.60", hyperliquid="91.55")
    at = accept("90.40")
    assert Position.objects.get().status == PositionStatus.OPEN
    assert price_gate(price=D("90.40"), computed_at=at, index_symbol="SOL-USD", symbols=["SOL-PERP"]) == "superseded"
    assert price_gate(price=D("91.550000"), computed_at=at, index_symbol="SOL-USD", symbols=["SOL-PERP"]) is None
    assert liquidation_run(price=D("90.40"), computed_at=at, index_symbol="SOL-USD").skipped == "superseded"
    assert Position.objects.get().status == PositionStatus.OPEN
    assert_books_ok()


def test_a_venue_outside_the_band_does_not_move_the_mark(trader, user):
    """One venue at 80 (12 % under the 91 index, outside the 2 % band) is dropped: the mark is the
    other venue's 91.20, nothing crosses."""
    open_position(trader)
    venue_marks(backpack="80", binance="91.20")
    accept("91")
    perp = price_latest_record("SOL-USD")["perps"]["SOL-PERP"]
    assert perp["mark"] == "91.200000" and perp["mark_sources"] == ["binance"] and "backpack" in perp["rejected"]
    assert Position.objects.get().status == PositionStatus.OPEN


def test_stop_loss_fires_at_the_mark(trader, user):
    """SL 95; index 96 but the venues mark 94.85: closed at 94.85, pnl -51.5, fee 0.9485, payout
    100 - 51.5 - 0.9485 = 47.5515 -> free 9899 + 47.5515 = 9946.5515."""
    open_position(trader, take_profit_price="110", stop_loss_price="95")
    venue_marks(backpack="94.80", binance="94.90")
    accept("96")
    row = Position.objects.get()
    assert (row.status, row.exit_price) == ("closed", D("94.85"))
    assert PositionEvent.objects.get(kind="close").reason == "stop_loss"
    assert balances_of(user)["USD"] == D("9946.5515")
    assert_books_ok()


def test_take_profit_does_not_fire_when_only_the_index_crosses(trader, user):
    """TP 110: index 110.5, mark 109.9 (both venues): still open; then the mark 110.2: closed."""
    open_position(trader, take_profit_price="110")
    venue_marks(backpack="109.90", hyperliquid="109.90")
    accept("110.5")
    assert Position.objects.get().status == "open"
    venue_marks(backpack="110.20", hyperliquid="110.20")
    accept("110.5")
    row = Position.objects.get()
    assert (row.status, row.exit_price) == ("closed", D("110.2"))
    assert_books_ok()


def test_the_quiet_tick_probe_checks_each_perps_mark(trader, user):
    """The one-statement probe: a tick whose index crosses nothing but whose mark does may act."""
    open_position(trader)
    assert not tick_may_act(index_symbol="SOL-USD", price=D(95), bid=None, ask=None)
    assert tick_may_act(index_symbol="SOL-USD", price=D(95), bid=None, ask=None, marks={"SOL-PERP": D("90.4")})
    assert not tick_may_act(index_symbol="SOL-USD", price=D("90.4"), bid=None, ask=None, marks={"SOL-PERP": D(95)})


def test_positions_and_the_portfolio_show_pnl_at_mark(trader, user):
    """Index 100, mark 101 (venues 100.9 / 101.1): the position's mark_price is 101, its PnL 10;
    the portfolio's positions are valued at the mark too."""
    position = open_position(trader)
    venue_marks(backpack="100.90", binance="101.10")
    accept("100")
    detail = trader.get(f"/api/v1/positions/{position['id']}").json()
    assert D(detail["mark_price"]) == D(101) and D(detail["unrealized_pnl"]) == D(10)
    listed = trader.get("/api/v1/positions?status=open").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert D(rows[0]["mark_price"]) == D(101) and D(rows[0]["unrealized_pnl"]) == D(10)
    assert D(trader.get("/api/v1/portfolio").json()["positions"]["unrealized_pnl"]) == D(10)


def test_equity_snapshots_and_the_leaderboard_value_positions_at_mark(trader, user):
    """After the open: USD total 9999 (margin 100 in it, fee 1 paid); index 100, mark 101: the
    position's PnL 10 at mark, so a snapshot and the leaderboard's equity say 10009, not 9999."""
    from portfolio.leaderboard import leaderboard_list, leaderboard_refresh
    from portfolio.models import EquitySnapshot
    from portfolio.services.snapshots import equity_snapshot_take_all

    open_position(trader)
    venue_marks(backpack="100.90", binance="101.10")
    accept("100")
    assert equity_snapshot_take_all() >= 1
    assert EquitySnapshot.objects.filter(account__user=user).latest("taken_at").equity == D("10009")
    leaderboard_refresh()
    rows = leaderboard_list(period="all", metric="equity")
    assert [D(r["equity"]) for r in rows] == [D("10009")]  # the one trader


def test_a_lane_handed_over_acts_at_the_mark_of_its_markets_only(trader, user):
    """A liquidation lane (another worker's share of a big tick) re-checks the gate for its
    markets' mark: at the index (not the record's mark) it does nothing; at the mark it liquidates."""
    from trading.services.liquidation import liquidation_lane_run

    position = open_position(trader)
    venue_marks(backpack="90.40", binance="90.42")
    with hooks.price_tick_accepted.replaced(lambda **_kw: None):  # the tick's own run would liquidate first
        at = accept("91")
    ids, lane = [position["id"]], {"computed_at": at, "index_symbol": "SOL-USD", "symbols": ["SOL-PERP"]}
    assert liquidation_lane_run(ids=ids, price=D(91), **lane) == []
    done = liquidation_lane_run(ids=ids, price=D("90.41"), **lane)
    assert [str(i) for i in done] == ids and Position.objects.get().exit_price == D("90.41")
    assert_books_ok()
