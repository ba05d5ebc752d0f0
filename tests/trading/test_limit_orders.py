"""Limit orders on the real stack, figures worked by hand: resting with funds held, maker fills on
the crossing tick, marketable on arrival (taker, within the limit), time in force, post-only,
cancel and gtd expiry -- the ledger invariant and locked = margin + holds after each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from portfolio.models import LedgerEntry
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import order_body, set_price
from tests.trading.order_helpers import events_of, tick
from trading.models import Fill, Order, OrderRejection
from trading.services.order_end import orders_expire_due

pytestmark = pytest.mark.django_db


def _limit(client, **fields):
    body = order_body(type="limit", **fields)
    return client.post("/api/v1/orders", body, format="json")


_tick, _events = tick, events_of


def test_a_resting_buy_holds_its_worst_case_cost_and_fills_as_maker_on_the_crossing_tick(trader, user):
    """Buy 2 SOL at 95 with the index at 100: rests, holding 2 x 95 x 1.001 = 190.19 USD. A tick at
    96 leaves it; a tick at 95 fills it at 95 as the maker: notional 190, fee 2 bps = 0.038, the
    hold released in the same transaction."""
    set_price(D("100"))
    response = _limit(trader, qty="2", limit_price="95", client_order_id="l1")
    assert response.status_code == 201, response.json()
    order = response.json()
    assert (order["status"], order["held_asset"], order["held"], order["time_in_force"]) == (
        "new", "USD", "190.190000000", "gtc"
    )  # fmt: skip
    assert balances_of(user)["USD"] == D("9809.81") and balances_of(user)["USD_locked"] == D("190.19")
    assert_books_ok()
    _tick("96")
    assert Order.objects.get(pk=order["id"]).status == "new"
    _tick("95")
    filled = Order.objects.get(pk=order["id"])
    assert (filled.status, filled.filled_avg_price, filled.fee, filled.held) == ("filled", D("95"), D("0.038"), 0)
    fill = Fill.objects.get(order=filled)
    assert (fill.liquidity, fill.notional, fill.price) == ("maker", D("190"), D("95"))
    books = balances_of(user)
    assert (books["USD"], books["USD_locked"], books["SOL"]) == (D("10000") - D("190.038"), 0, D("2"))
    assert _events(user)[-4:] == ["order_accepted", "portfolio_update", "order_fill", "portfolio_update"]
    assert_books_ok()


def test_a_resting_sell_holds_the_base_and_fills_at_its_limit_on_the_bid(trader, user):
    """Sell 1 SOL at 105 (holding 1 SOL): a tick at 104.9 with bid 104.95 leaves it; a tick whose
    bid is 105 fills it at 105: notional 105, fee 0.021."""
    set_price(D("100"))
    assert trader.post("/api/v1/orders", order_body(qty="2", client_order_id="b"), format="json").status_code == 201
    usd_before = balances_of(user)["USD"]
    order = _limit(trader, side="sell", qty="1", limit_price="105", client_order_id="s1").json()
    assert (order["status"], order["held_asset"], order["held"]) == ("new", "SOL", "1.000000000")
    assert balances_of(user)["SOL"] == D("1") and balances_of(user)["SOL_locked"] == D("1")
    _tick("104.9", bid="104.95", ask="104.97")
    assert Order.objects.get(pk=order["id"]).status == "new"
    _tick("105.01", bid="105", ask="105.02")
    assert Order.objects.get(pk=order["id"]).status == "filled"
    books = balances_of(user)
    assert (books["SOL"], books["SOL_locked"], books["USD"]) == (D("1"), 0, usd_before + D("105") - D("0.021"))
    assert_books_ok()


def test_a_marketable_limit_fills_at_once_as_the_taker_never_worse_than_its_limit(trader, user):
    """Buy 1 at limit 101 with the index at 100: the taker price 100 x (1 + 1.3162 bps) rounded up
    = 100.013163 is within the limit: filled at once, taker fee 10 bps, nothing held."""
    set_price(D("100"))
    order = _limit(trader, qty="1", limit_price="101", client_order_id="t1").json()
    assert (order["status"], order["type"], order["filled_avg_price"]) == ("filled", "limit", "100.013163000")
    assert order["fee"] == "0.100014000" and order["held"] == "0.000000000"
    assert Fill.objects.get(order_id=order["id"]).liquidity == "taker"
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()


@pytest.mark.parametrize(("tif", "status", "held"), [("gtc", "new", "100.110010000"), ("ioc", "canceled", "0E-9")])
def test_marketable_but_slipped_past_the_limit_rests_or_cancels_by_time_in_force(trader, user, tif, status, held):
    """Buy 1 at 100.01 with the index at 100: marketable (100 <= 100.01) but the taker price
    100.013163 is worse than the limit: gtc rests (holding 100.01 x 1.001 = 100.11001), ioc is
    canceled with nothing held."""
    set_price(D("100"))
    order = _limit(trader, qty="1", limit_price="100.01", time_in_force=tif, client_order_id="m1").json()
    assert order["status"] == status and D(order["held"]) == D(held)
    assert balances_of(user)["USD_locked"] == D(held)
    assert not Fill.objects.filter(order_id=order["id"]).exists()
    assert _events(user)[-1] in ("portfolio_update", "order_canceled")
    assert_books_ok()


def test_not_marketable_ioc_and_fok_are_canceled_and_post_only_that_would_take_is_refused(trader, user):
    set_price(D("100"))
    for tif in ("ioc", "fok"):
        order = _limit(trader, qty="1", limit_price="99", time_in_force=tif, client_order_id=f"x-{tif}").json()
        assert order["status"] == "canceled" and order["closed_at"] is not None
    taking = _limit(trader, qty="1", limit_price="101", post_only=True, client_order_id="po")
    assert taking.status_code == 422 and taking.json()["code"] == "would_take"
    assert OrderRejection.objects.filter(user=user, client_order_id="po").exists()
    resting = _limit(trader, qty="1", limit_price="99", post_only=True, client_order_id="po2").json()
    assert resting["status"] == "new" and resting["post_only"] is True
    assert_books_ok()


def test_cancel_releases_the_hold_once_and_only_the_owner_cancels(trader, user, client_for):
    set_price(D("100"))
    order = _limit(trader, qty="2", limit_price="95", client_order_id="c1").json()
    other = client_for(make_user())
    assert other.delete(f"/api/v1/orders/{order['id']}").status_code == 404
    canceled = trader.delete(f"/api/v1/orders/{order['id']}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert balances_of(user)["USD"] == D("10000") and balances_of(user)["USD_locked"] == 0
    again = trader.delete(f"/api/v1/orders/{order['id']}")
    assert again.status_code == 409 and again.json()["code"] == "not_cancelable"
    assert LedgerEntry.objects.filter(txn__reason="hold", account__user=user).count() == 4  # hold + release
    _tick("90")
    assert Order.objects.get(pk=order["id"]).status == "canceled" and not Fill.objects.exists()
    assert_books_ok()


def test_cancel_all_on_one_market_and_gtd_expiry(trader, user):
    set_price(D("100"))
    set_price(D("0.8"), symbol="JUP-USD")
    _limit(trader, qty="1", limit_price="90", client_order_id="a1")
    _limit(trader, symbol="JUP-USD", qty="100", limit_price="0.7", client_order_id="a2")
    canceled = trader.delete("/api/v1/orders?symbol=SOL-USD")
    assert [o["client_order_id"] for o in canceled.json()["canceled"]] == ["a1"]
    expire_at = datetime.now(timezone.utc) + timedelta(minutes=5)
    gtd = _limit(trader, qty="1", limit_price="90", time_in_force="gtd", expire_at=expire_at.isoformat(),
                 client_order_id="g1").json()  # fmt: skip
    assert gtd["status"] == "new"
    assert orders_expire_due(now=expire_at - timedelta(seconds=1)) == 0
    assert orders_expire_due(now=expire_at) == 1
    assert Order.objects.get(pk=gtd["id"]).status == "expired" and "order_expired" in _events(user)
    assert balances_of(user)["USD_locked"] == D("70.07")  # JUP's order still holds 100 x 0.7 x 1.001
    assert_books_ok()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"limit_price": ...}, 400, "required"),
        ({"qty": ..., "notional": "100"}, 400, "qty_required_for_type"),
        ({"time_in_force": "day"}, 400, "invalid_choice"),
        ({"time_in_force": "gtd"}, 400, "required"),
        ({"expire_at": "2020-01-01T00:00:00Z", "time_in_force": "gtd"}, 400, "expire_at_past"),
        ({"expire_at": "2099-01-01T00:00:00Z"}, 400, "not_allowed_for_tif"),
        ({"limit_price": "-5"}, 400, "not_positive"),
        ({"limit_price": "95.0000005"}, 422, "price_off_tick"),
        ({"limit_price": "151"}, 422, "price_out_of_band"),
        ({"qty": "1000"}, 422, "insufficient_funds"),
    ],
)
def test_bad_limit_orders_are_refused_with_a_code_and_change_nothing(trader, user, fields, status, code):
    set_price(D("100"))
    body = order_body(**{"type": "limit", "limit_price": "95", "client_order_id": "bad", **fields})
    body = {k: v for k, v in body.items() if v is not ...}
    response = trader.post("/api/v1/orders", body, format="json")
    assert response.status_code == status, response.json()
    payload = response.json()
    got = payload["code"] if status == 422 else next(iter(payload["extra"]["fields"].values()))[0]["code"]
    assert got == code
    assert balances_of(user)["USD"] == D("10000") and balances_of(user)["USD_locked"] == 0
    assert not Order.objects.filter(user=user).exists()


def test_a_market_order_refuses_limit_fields(trader):
    set_price(D("100"))
    response = trader.post("/api/v1/orders", order_body(limit_price="95"), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["limit_price"][0]["code"] == "not_allowed_for_type"
