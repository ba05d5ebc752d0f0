"""The seed's routes (/state, /positions/open, /positions/close) beside the REST ones."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import set_price
from trading.models import Position

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)


def seed_open(client, **overrides):
    body = {"margin": "100", "asset": "SOL", "type": "long", "leverage": "10", "slippage": "1", "currentPrice": "100"}
    body.update(overrides)
    return client.post("/api/v1/positions/open", body, format="json")


def test_seed_open_state_close_round_trip(trader, user):
    """open -> the seed's camelCase position; /state lists it with balances; close -> {message, realizedPnL}."""
    set_price(D(100))
    response = seed_open(trader)
    assert response.status_code == 200, response.content
    body = response.json()
    assert {
        "positionId",
        "asset",
        "type",
        "margin",
        "leverage",
        "entryPrice",
        "quantity",
        "unrealizedPnL",
        "timestamp",
    } <= set(body)
    assert body["asset"] == "SOL" and body["type"] == "long" and D(body["quantity"]) == 10
    assert D(body["entryPrice"]) == 100 and body["timestamp"].endswith("Z")

    state = trader.get("/api/v1/state").json()
    assert [p["positionId"] for p in state["positions"]] == [body["positionId"]]
    assert D(state["balances"]["USD"]["locked"]) == 100

    set_price(D(101))
    closed = trader.post(
        "/api/v1/positions/close", {"positionId": body["positionId"], "currentPrice": "101"}, format="json"
    )
    assert closed.status_code == 200, closed.content
    assert closed.json()["message"] == "Position closed" and D(closed.json()["realizedPnL"]) == 10
    assert trader.get("/api/v1/state").json()["positions"] == []
    assert_books_ok()


def test_server_price_outside_the_tolerance_is_409_and_changes_nothing(trader, user):
    """currentPrice 95 with 1% slippage, server index 100: a long would fill above 95.95 -> 409 slippage_exceeded."""
    set_price(D(100))
    before = balances_of(user)
    response = seed_open(trader, currentPrice="95")
    assert response.status_code == 409 and response.json()["code"] == "slippage_exceeded"
    assert balances_of(user) == before and Position.objects.count() == 0
    assert_books_ok()


def test_seed_close_refuses_a_far_current_price(trader, user):
    """Closing with currentPrice 120 when the server sells at 100 (a long's exit) is 409; the position stays open."""
    set_price(D(100))
    position_id = seed_open(trader).json()["positionId"]
    response = trader.post("/api/v1/positions/close", {"positionId": position_id, "currentPrice": "120"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "slippage_exceeded"
    assert Position.objects.get().status == "open"
    assert_books_ok()


def test_open_and_close_paths_are_not_captured_as_ids(trader):
    """GET /positions/open is not a position id lookup (405 on the seed route), /positions/{uuid} still works."""
    set_price(D(100))
    assert trader.get("/api/v1/positions/open").status_code == 405
    assert trader.get("/api/v1/positions/close").status_code == 405
    position_id = seed_open(trader).json()["positionId"]
    assert trader.get(f"/api/v1/positions/{position_id}").status_code == 200
