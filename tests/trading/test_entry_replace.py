"""Replacing a position's resting limit entry (``PATCH /api/v1/orders/{id}`` on an order with
``leverage``): the old entry ``replaced`` and its margin-and-fee hold released, the new one born
with its own hold -- or filled at once as the taker -- in one transaction; refusals leave the old
entry as it was; a retry replays, a retry asking something else is refused.

Figures (no slippage, position fee 10 bps, index 100, start 10,000 USD): a long entry of 10 at 95
with 10x holds 95 + 0.95 = 95.95; 5 at 96 holds 48 + 0.48 = 48.48; 2,000 at 99 would hold
19,800 + 198, more than the 10,000 free even once the old hold is released."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.order_helpers import events_of
from tests.trading.position_helpers import open_body, perp_book_setup
from trading.models import Order, Position

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(10), TRADING_PRICE_BAND_PCT=D(50))


def _entry(client, **overrides) -> dict:
    body = open_body(**{"type": "limit", "margin": ..., "qty": "10", "limit_price": "95", **overrides})
    response = client.post("/api/v1/positions", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _replace(client, order_id: str, **fields):
    return client.patch(f"/api/v1/orders/{order_id}", {"client_order_id": "r1", **fields}, format="json")


def test_an_entry_replaced_moves_size_and_price_and_swaps_its_hold(trader, user):
    old = _entry(trader)
    response = _replace(trader, old["id"], qty="5", limit_price="96")
    assert response.status_code == 201, response.json()
    new = response.json()
    assert (new["status"], new["side"], new["qty"], new["limit_price"], new["leverage"], new["replaces"]) == (
        "new", "buy", "5.000000000", "96.000000000", "10.00", old["id"],
    )  # fmt: skip
    assert D(new["held"]) == D("48.48") and new["symbol"] == "SOL-PERP"
    replaced = Order.objects.get(pk=old["id"])
    assert (replaced.status, replaced.held) == ("replaced", 0)
    assert balances_of(user)["USD_locked"] == D("48.48") and balances_of(user)["USD"] == D("9951.52")
    assert events_of(user)[-3:] == ["order_accepted", "portfolio_update", "order_replaced"]
    again = _replace(trader, old["id"], qty="5", limit_price="96")
    assert again.status_code == 201 and again.json()["id"] == new["id"]
    other = _replace(trader, old["id"], qty="6", limit_price="96")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert_books_ok()


def test_an_entry_replaced_across_the_market_fills_at_once_as_the_taker(trader, user):
    """95 -> 101 with the index at 100 (no slippage): a long of 10 at 100, margin 100, fee 1."""
    old = _entry(trader)
    new = _replace(trader, old["id"], limit_price="101").json()
    assert (new["status"], new["filled_avg_price"], new["held"]) == ("filled", "100.000000000", "0.000000000")
    position = Position.objects.get()
    assert (position.side, position.qty, position.entry_price, position.margin) == ("long", D(10), D(100), D(100))
    assert balances_of(user)["USD_locked"] == D(100) and balances_of(user)["USD"] == D(9899)
    assert Order.objects.get(pk=old["id"]).status == "replaced"
    assert_books_ok()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"stop_price": "90"}, 422, "not_allowed_for_type"),
        ({"expire_at": "2099-01-01T00:00:00Z"}, 422, "not_allowed_for_tif"),
        ({"limit_price": "95.0000001"}, 422, "price_off_tick"),
        ({"limit_price": "10"}, 422, "price_out_of_band"),
        ({"qty": "2000", "limit_price": "99"}, 422, "insufficient_funds"),
    ],
)
def test_bad_entry_replaces_are_refused_and_leave_the_old_entry_as_it_was(trader, user, fields, status, code):
    old = _entry(trader)
    response = _replace(trader, old["id"], **fields)
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    row = Order.objects.get(pk=old["id"])
    assert (row.status, row.held) == ("new", D("95.95")) and Order.objects.count() == 1
    assert balances_of(user)["USD_locked"] == D("95.95")
    assert_books_ok()


def test_a_final_entry_is_not_replaceable(trader, user):
    old = _entry(trader)
    trader.delete(f"/api/v1/orders/{old['id']}")
    response = _replace(trader, old["id"], qty="1")
    assert response.status_code == 409 and response.json()["code"] == "not_replaceable"
    assert_books_ok()
