"""Opening, reading and closing positions over the REST API, with the ledger invariant after each."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, open_body, open_position, user_events
from trading.models import Position, PositionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    market_set("SOL-PERP", mmr=D("0.005"))
    settings.POSITION_FEE_BPS = D(10)


def test_open_long_locks_margin_and_charges_the_fee(trader, user, no_slippage):
    """100 USD at 10x at index 100: entry 100, qty 10, fee 1, liq 90.452262; 100 locked, 101 leaves free USD."""
    set_price(D(100))
    body = open_position(trader)
    assert body["status"] == "open" and body["side"] == "long"
    assert D(body["entry_price"]) == 100 and D(body["qty"]) == 10 and D(body["margin"]) == 100
    assert D(body["fee"]) == 1 and D(body["liquidation_price"]) == D("90.452262") and D(body["leverage"]) == 10
    assert body["id"] and body["opened_at"].endswith("Z")
    balances = balances_of(user)
    assert balances["USD"] == D(10000) - 101 and balances["USD_locked"] == 100
    txn = LedgerTransaction.objects.get(reference_type="position", reference_id=body["id"])
    assert txn.reason == "margin"
    assert [e["data"]["reason"] for e in user_events(user, "position_update")] == ["opened"]
    update = user_events(user, "portfolio_update")[-1]["data"]
    assert update["positions"]["open_count"] == 1 and D(update["positions"]["margin_used"]) == 100
    assert D(update["balances"]["USD"]["locked"]) == 100
    assert_books_ok()


def test_open_by_qty_short(trader, user, no_slippage):
    """A 2 SOL short at 150 with 4x locks 75 USD and pays 0.3 fee."""
    set_price(D(150))
    body = open_position(trader, side="short", margin=..., qty="2", leverage="4")
    assert D(body["margin"]) == 75 and D(body["fee"]) == D("0.3") and D(body["qty"]) == 2
    assert balances_of(user)["USD_locked"] == 75
    assert_books_ok()


def test_same_id_replays_and_different_body_is_refused(trader, user, no_slippage):
    """Same client_order_id + same body -> the same position (201, Idempotent-Replayed); other body -> 422."""
    set_price(D(100))
    first = open_position(trader)
    again = trader.post("/api/v1/positions", open_body(margin="100.0"), format="json")
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = trader.post("/api/v1/positions", open_body(margin="50"), format="json")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Position.objects.filter(user=user).count() == 1
    assert_books_ok()


def test_full_close_realizes_pnl_and_releases_margin(trader, user, no_slippage):
    """Long 10 @ 100 closed at 105: +50 PnL, 1.05 fee; free USD = 10000 - 1 + 50 - 1.05, nothing locked."""
    set_price(D(100))
    position = open_position(trader)
    set_price(D(105))
    url = f"/api/v1/positions/{position['id']}/close"
    response = trader.post(url, {"client_order_id": "c-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["position"]["status"] == "closed" and D(body["close"]["realized_pnl"]) == 50
    assert D(body["close"]["fee"]) == D("1.05") and D(body["close"]["price"]) == 105
    balances = balances_of(user)
    assert balances["USD"] == D(10000) - 1 + 50 - D("1.05") and balances["USD_locked"] == 0
    replay = trader.post(url, {"client_order_id": "c-1"}, format="json")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["close"] == body["close"]
    again = trader.post(url, {"client_order_id": "c-2"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "position_not_open"
    assert balances_of(user) == balances
    assert_books_ok()


def test_partial_close_keeps_the_position_open(trader, user, no_slippage):
    """Closing 4 of 10 SOL releases 40 of 100 margin; the rest stays open with the same liquidation price."""
    set_price(D(100))
    position = open_position(trader)
    url = f"/api/v1/positions/{position['id']}/close"
    response = trader.post(url, {"qty": "4", "client_order_id": "c-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()["position"]
    assert body["status"] == "open" and D(body["qty"]) == 6 and D(body["margin"]) == 60
    assert D(body["liquidation_price"]) == D(position["liquidation_price"])
    assert balances_of(user)["USD_locked"] == 60
    too_much = trader.post(url, {"qty": "7", "client_order_id": "c-2"}, format="json")
    assert too_much.status_code == 422 and too_much.json()["code"] == "qty_exceeds_position"
    assert_books_ok()


def test_detail_shows_live_values_and_formula_inputs(trader, no_slippage):
    """GET /positions/{id}: mark, uPnL, equity, margin ratio and the liquidation formula's inputs."""
    set_price(D(100))
    position = open_position(trader)
    set_price(D(95))
    body = trader.get(f"/api/v1/positions/{position['id']}").json()
    assert D(body["mark_price"]) == 95 and D(body["unrealized_pnl"]) == -50 and D(body["equity"]) == 50
    # maintenance 0.005 * 10 * 95 = 4.75; ratio 4.75 / 50
    assert D(body["margin_ratio"]) == D("0.095") and D(body["maintenance_margin"]) == D("4.75")
    inputs = body["liquidation_inputs"]
    assert D(inputs["entry_price"]) == 100 and D(inputs["mmr"]) == D("0.005") and D(inputs["bankruptcy_price"]) == 90
    assert "(E - M/q) / (1 - mmr)" in inputs["formula"]
    assert [event["kind"] for event in body["history"]] == ["open"]


def test_list_filters_by_status(trader, no_slippage):
    """GET /positions?status=open|closed lists yours with the mark."""
    set_price(D(100))
    first = open_position(trader, client_order_id="a")
    trader.post(f"/api/v1/positions/{first['id']}/close", {"client_order_id": "a-close"}, format="json")
    open_position(trader, client_order_id="b", side="short")
    open_ids = [p["id"] for p in trader.get("/api/v1/positions?status=open").json()["results"]]
    closed_ids = [p["id"] for p in trader.get("/api/v1/positions?status=closed").json()["results"]]
    assert len(open_ids) == 1 and closed_ids == [first["id"]]
    assert trader.get("/api/v1/positions?status=bogus").status_code == 400


def test_someone_elses_position_is_404(trader, client_for, no_slippage):
    """Another user can neither read nor close your position: 404 not_found, nothing changes."""
    from tests.portfolio.helpers import make_user

    set_price(D(100))
    position = open_position(trader)
    stranger = client_for(make_user())
    assert stranger.get(f"/api/v1/positions/{position['id']}").status_code == 404
    response = stranger.post(f"/api/v1/positions/{position['id']}/close", {"client_order_id": "s-1"}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Position.objects.get(pk=position["id"]).status == PositionStatus.OPEN
    assert_books_ok()


def test_portfolio_and_leaderboard_include_positions(trader, user, no_slippage):
    """Portfolio: margin used, free margin, uPnL, equity = cash + SOL + uPnL; the leaderboard ranks that equity."""
    set_price(D(100))
    open_position(trader)
    set_price(D(102))
    summary = trader.get("/api/v1/portfolio").json()
    positions = summary["positions"]
    assert D(positions["margin_used"]) == 100 and D(positions["unrealized_pnl"]) == 20
    assert D(positions["free_margin"]) == D(9899) and positions["open_count"] == 1
    assert D(summary["equity"]) == D(10000) - 1 + 20
    board = trader.get("/api/v1/leaderboard").json()["results"]
    assert D(board[0]["equity"]) == D(10019)
