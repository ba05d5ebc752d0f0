"""Replacing a resting order (PATCH /api/v1/orders/{id}) on the real stack: the old order
``replaced``, its hold released, the new one born with its own hold -- or filled at once -- in one
transaction; refusals leave the old order as it was. Figures by hand (taker fee 10 bps)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.order_helpers import events_of, place
from trading.models import Order

pytestmark = pytest.mark.django_db


def _replace(client, order_id: str, **fields):
    return client.patch(f"/api/v1/orders/{order_id}", {"client_order_id": "r1", **fields}, format="json")


def _resting_limit(client, **fields):
    return place(client, **{"type": "limit", "qty": "2", "limit_price": "95", "client_order_id": "l1", **fields})


def test_replace_moves_price_and_size_and_swaps_the_hold_in_one_step(trader, user):
    """Buy 2 at 95 (holds 190.19) replaced by 3 at 94: holds 3 x 94 x 1.001 = 282.282; the old
    order ``replaced`` with nothing held; the new one ``replaces`` it. A retry replays it."""
    set_price(D("100"))
    old = _resting_limit(trader).json()
    response = _replace(trader, old["id"], qty="3", limit_price="94")
    assert response.status_code == 201, response.json()
    new = response.json()
    assert (new["status"], new["qty"], new["limit_price"], new["held"], new["replaces"]) == (
        "new", "3.000000000", "94.000000000", "282.282000000", old["id"]
    )  # fmt: skip
    replaced = Order.objects.get(pk=old["id"])
    assert (replaced.status, replaced.held, replaced.closed_at is not None) == ("replaced", 0, True)
    assert balances_of(user)["USD_locked"] == D("282.282")
    assert events_of(user)[-3:] == ["order_accepted", "portfolio_update", "order_replaced"]
    again = _replace(trader, old["id"], qty="3", limit_price="94")
    assert again.status_code == 201 and again.json()["id"] == new["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = _replace(trader, old["id"], qty="3", limit_price="93")  # the same id asking something else
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused", other.json()
    assert Order.objects.get(pk=new["id"]).limit_price == D(94) and Order.objects.filter(user=user).count() == 2
    assert_books_ok()


def test_a_limit_replaced_to_a_marketable_price_fills_at_once_as_the_taker(trader, user):
    """95 -> 101 with the index at 100: the taker price 100.013163 is within 101: filled."""
    set_price(D("100"))
    old = _resting_limit(trader, qty="1").json()
    new = _replace(trader, old["id"], limit_price="101").json()
    assert (new["status"], new["filled_avg_price"], new["held"]) == ("filled", "100.013163000", "0.000000000")
    assert Order.objects.get(pk=old["id"]).status == "replaced"
    assert balances_of(user)["USD_locked"] == 0 and balances_of(user)["SOL"] == D("1")
    assert_books_ok()


def test_a_waiting_stop_replaced_to_a_new_stop_price_holds_its_new_worst_case(trader, user):
    """Buy stop 2 at 105 -> 104: holds 2 x 104 x 1.02 x 1.001 = 212.37216."""
    set_price(D("100"))
    old = place(trader, type="stop", qty="2", stop_price="105", client_order_id="s").json()
    new = _replace(trader, old["id"], stop_price="104").json()
    assert (new["type"], new["stop_price"], new["held"]) == ("stop", "104.000000000", "212.372160000")
    assert balances_of(user)["USD_locked"] == D("212.37216")
    assert_books_ok()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({}, 400, "nothing_to_replace"),
        ({"stop_price": "96"}, 422, "not_allowed_for_type"),
        ({"expire_at": "2099-01-01T00:00:00Z"}, 422, "not_allowed_for_tif"),
        ({"expire_at": "2020-01-01T00:00:00Z"}, 400, "expire_at_past"),
        ({"limit_price": "-1"}, 400, "not_positive"),
        ({"limit_price": "94.0000001"}, 422, "price_off_tick"),
        ({"limit_price": "30"}, 422, "price_out_of_band"),
        ({"qty": "200"}, 422, "insufficient_funds"),
        ({"bogus": "1", "qty": "3"}, 400, "unknown_field"),
    ],
)
def test_bad_replaces_are_refused_and_leave_the_old_order_as_it_was(trader, user, fields, status, code):
    set_price(D("100"))
    old = _resting_limit(trader).json()
    response = _replace(trader, old["id"], **fields)
    assert response.status_code == status, response.json()
    payload = response.json()
    got = payload["code"] if status != 400 else next(iter(payload["extra"]["fields"].values()))[0]["code"]
    assert got == code
    kept = Order.objects.get(pk=old["id"])
    assert (kept.status, kept.held, kept.limit_price) == ("new", D("190.19"), D("95"))
    assert Order.objects.filter(user=user).count() == 1 and balances_of(user)["USD_locked"] == D("190.19")
    assert_books_ok()


def test_post_only_replaced_across_the_market_is_refused(trader, user):
    set_price(D("100"))
    old = _resting_limit(trader, post_only=True).json()
    response = _replace(trader, old["id"], limit_price="101")
    assert response.status_code == 422 and response.json()["code"] == "would_take"
    assert Order.objects.get(pk=old["id"]).status == "new"


def test_final_orders_are_not_replaceable_and_others_orders_are_not_found(trader, user, client_for):
    set_price(D("100"))
    old = _resting_limit(trader).json()
    assert _replace(client_for(make_user()), old["id"], qty="1").status_code == 404
    trader.delete(f"/api/v1/orders/{old['id']}")
    response = _replace(trader, old["id"], qty="1")
    assert response.status_code == 409 and response.json()["code"] == "not_replaceable"
    filled = place(trader, qty="1", client_order_id="m").json()
    assert _replace(trader, filled["id"], qty="2", client_order_id="r2").json()["code"] == "not_replaceable"
    assert_books_ok()
