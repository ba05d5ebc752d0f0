"""A close of a position the index has already crossed is settled as the liquidation it is
(issue 14, item 2): the trader keeps nothing the engine would have sent to insurance, whichever
way the close comes (REST, the seed route, an ops close in the admin, an order on the market).

Long 10x, margin 100, at 100: qty 10, liquidation ~90.45, bankruptcy 90. At 90.2 the engine
takes the margin: house +98 (the PnL), insurance +2. A plain close would have paid the trader
100 - 98 - 0.902 (fee) = 1.098.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from portfolio.models import LedgerEntry
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import set_price
from tests.trading.position_helpers import open_body, open_position, user_events
from trading.models import Position, PositionEvent, PositionOrder

pytestmark = pytest.mark.django_db
CROSSED = D("90.2")
FREE_AFTER_OPEN = D(10000) - 100 - 1  # margin and the 10 bps opening fee on 1,000


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)


def _insurance_received() -> D:
    return sum(
        LedgerEntry.objects.filter(account__code="insurance", txn__reason="liquidation").values_list(
            "amount", flat=True
        ),
        D(0),
    )


def _assert_settled_as_liquidation(user, position_id) -> None:
    position = Position.objects.get(pk=position_id)
    assert position.status == "liquidated" and position.exit_price == CROSSED
    assert PositionEvent.objects.filter(position=position, kind="liquidation").count() == 1
    assert not PositionEvent.objects.filter(position=position, kind="close").exists()
    assert balances_of(user)["USD"] == FREE_AFTER_OPEN and balances_of(user)["USD_locked"] == 0
    assert _insurance_received() == D(2)
    assert user_events(user, "position_liquidated")[-1]["data"]["price"] == "90.200000000"
    assert_books_ok()


def test_a_rest_close_of_a_crossed_position_is_its_liquidation(trader, user):
    set_price(D(100))
    position = open_position(trader)
    set_price(CROSSED)
    response = trader.post(f"/api/v1/positions/{position['id']}/close", {"client_order_id": "c-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["position"]["status"] == "liquidated" and body["close"]["kind"] == "liquidation"
    assert D(body["close"]["realized_pnl"]) == -100 and D(body["close"]["insurance"]) == 2
    assert PositionOrder.objects.get(client_order_id="c-1").action == "liquidation"
    _assert_settled_as_liquidation(user, position["id"])


def test_a_partial_close_of_a_crossed_position_is_the_whole_liquidation(trader, user):
    set_price(D(100))
    position = open_position(trader)
    set_price(CROSSED)
    url = f"/api/v1/positions/{position['id']}/close"
    response = trader.post(url, {"qty": "4", "client_order_id": "c-1"}, format="json")
    assert response.status_code == 200 and response.json()["close"]["kind"] == "liquidation"
    _assert_settled_as_liquidation(user, position["id"])


def test_the_seed_close_of_a_crossed_position_is_its_liquidation(trader, user):
    set_price(D(100))
    position = open_position(trader)
    set_price(CROSSED)
    response = trader.post(
        "/api/v1/positions/close", {"positionId": position["id"], "currentPrice": "90.2"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Position liquidated" and D(response.json()["realizedPnL"]) == -100
    _assert_settled_as_liquidation(user, position["id"])


def test_an_ops_close_in_the_admin_of_a_crossed_position_is_its_liquidation(trader, user, client, django_user_model):
    ops = django_user_model.objects.create_superuser("ops", "pw-ops-123")
    client.force_login(ops)
    set_price(D(100))
    position = open_position(trader)
    set_price(CROSSED)
    response = client.post(
        "/admin/trading/position/", {"action": "close_at_market", "_selected_action": [position["id"]]}
    )
    assert response.status_code == 302
    order = PositionOrder.objects.get(position_id=position["id"], action="liquidation")
    assert order.created_by == ops
    _assert_settled_as_liquidation(user, position["id"])


def test_an_ops_close_of_a_healthy_position_is_a_close_at_market(trader, user, client, django_user_model):
    ops = django_user_model.objects.create_superuser("ops", "pw-ops-123")
    client.force_login(ops)
    set_price(D(100))
    position = open_position(trader)
    set_price(D(101))
    client.post("/admin/trading/position/", {"action": "close_at_market", "_selected_action": [position["id"]]})
    assert Position.objects.get(pk=position["id"]).status == "closed"
    assert balances_of(user)["USD"] == FREE_AFTER_OPEN + 100 + 10 - D("1.01")
    page = client.get(f"/admin/trading/position/{position['id']}/change/")  # its history, with why it closed
    assert page.status_code == 200 and b"Reason" in page.content
    assert_books_ok()


@pytest.mark.parametrize("side", ["long", "short"])
def test_an_order_on_a_crossed_position_first_settles_its_liquidation(trader, user, side):
    """An order on the market (to add to the long, or to sell against it) cannot rescue or close the
    crossed long at the market: it is liquidated first, then the order opens on the flat book."""
    set_price(D(100))
    position = open_position(trader)
    set_price(CROSSED)
    response = trader.post(
        "/api/v1/positions", open_body(side=side, margin="50", leverage="2", client_order_id="o-2"), format="json"
    )
    assert response.status_code == 201, response.content
    assert Position.objects.get(pk=position["id"]).status == "liquidated"
    new = response.json()
    assert new["id"] != position["id"] and new["side"] == side and D(new["margin"]) == 50
    assert _insurance_received() == D(2)
    assert balances_of(user)["USD_locked"] == 50
    assert_books_ok()
