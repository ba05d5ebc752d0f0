"""Stop and stop-limit orders on the real stack, figures worked by hand (taker fee 10 bps, spread
2 bps, impact 10 bps x sqrt(notional / 100,000), max slippage 200 bps, tick 0.000001): born
resting with the worst case held, triggered on the first tick that crosses the stop, executed on
that tick -- the ledger invariant and locked = margin + holds after each."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pricing.markets import registry_clear
from pricing.models import Market, MarketStatus
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import set_price
from tests.trading.order_helpers import events_of, place, tick
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db


def _stop(client, **fields):
    return place(client, **{"type": "stop", "qty": "2", "stop_price": "105", **fields})


def test_a_buy_stop_holds_its_worst_case_and_fills_at_market_on_the_crossing_tick(trader, user):
    """Buy stop 2 SOL at 105, index 100: holds 2 x 105 x 1.02 x 1.001 = 214.4142 USD. A tick at
    104.99 leaves it; a tick at 106 triggers it: slippage 1 + 10 x sqrt(212 / 100,000) = 1.46043 bps,
    price 106 x 1.000146043 = 106.0154806 -> 106.015481 (up), notional 212.030962, fee 0.212031; the
    hold released in the fill's transaction."""
    set_price(D("100"))
    order = _stop(trader, client_order_id="s1").json()
    assert (order["status"], order["type"], order["held_asset"], order["held"]) == (
        "new", "stop", "USD", "214.414200000"
    )  # fmt: skip
    assert balances_of(user)["USD_locked"] == D("214.4142")
    tick("104.99")
    assert Order.objects.get(pk=order["id"]).status == "new"
    tick("106")
    filled = Order.objects.get(pk=order["id"])
    assert (filled.status, filled.filled_avg_price, filled.fee, filled.held) == (
        "filled", D("106.015481"), D("0.212031"), 0
    )  # fmt: skip
    assert filled.triggered_at is not None and Fill.objects.get(order=filled).liquidity == "taker"
    books = balances_of(user)
    assert (books["USD"], books["USD_locked"], books["SOL"]) == (D("10000") - D("212.242993"), 0, D("2"))
    assert events_of(user)[-4:] == ["order_accepted", "portfolio_update", "order_fill", "portfolio_update"]
    assert_books_ok()


def test_a_sell_stop_holds_the_base_and_sells_when_the_index_falls_to_it(trader, user):
    """Sell stop 1 SOL at 99 (holding 1 SOL): a tick at 98 sells at 98 x (1 - 1.31305 bps) =
    97.9871321 -> 97.987132 (down), fee 0.097988 (up): 97.889144 USD in."""
    set_price(D("100"))
    assert place(trader, qty="2", client_order_id="b").status_code == 201
    usd = balances_of(user)["USD"]
    order = _stop(trader, side="sell", qty="1", stop_price="99", client_order_id="s2").json()
    assert (order["held_asset"], order["held"]) == ("SOL", "1.000000000")
    tick("99.01")
    assert Order.objects.get(pk=order["id"]).status == "new"
    tick("98")
    assert Order.objects.get(pk=order["id"]).filled_avg_price == D("97.987132")
    books = balances_of(user)
    assert (books["SOL"], books["SOL_locked"], books["USD"]) == (D("1"), 0, usd + D("97.889144"))
    assert_books_ok()


def test_a_buy_stop_the_market_gapped_past_is_rejected_when_its_cost_exceeds_hold_and_free_cash(trader, user):
    """Buy stop 40 at 105 holds 40 x 105 x 1.02 x 1.001 = 4288.284; a market buy of 50 then leaves
    little free USD. A tick gapping to 150 would cost ~6,000: rejected (insufficient_funds), the
    hold released, nothing filled."""
    set_price(D("100"))
    order = _stop(trader, qty="40", client_order_id="gap").json()
    assert order["held"] == "4288.284000000"
    assert place(trader, qty="50", client_order_id="spend").status_code == 201
    tick("150")
    rejected = Order.objects.get(pk=order["id"])
    assert (rejected.status, rejected.held) == ("rejected", 0) and rejected.closed_at is not None
    assert not Fill.objects.filter(order=rejected).exists()
    assert "order_rejected" in events_of(user) and balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_a_stop_limit_fills_as_taker_within_its_limit_or_rests_as_its_limit(trader, user):
    """Buy stop-limit 2 at stop 105 / limit 107 holds 2 x 107 x 1.001 = 214.214: a tick at 106
    triggers it, the taker price 106.015481 is within 107: filled. A second one, limit 105.5, is
    triggered by the same tick but not marketable (106 > 105.5): it rests as a limit and fills as
    the maker at 105.5 (holding 2 x 105.5 x 1.001 = 211.211; fee 2 bps of 211: 0.0422) on the next
    tick at 105.4."""
    set_price(D("100"))
    at_once = place(trader, type="stop_limit", qty="2", stop_price="105", limit_price="107", client_order_id="a")
    assert at_once.json()["held"] == "214.214000000"
    later = place(trader, type="stop_limit", qty="2", stop_price="105", limit_price="105.5", client_order_id="b")
    tick("106")
    first, second = Order.objects.get(pk=at_once.json()["id"]), Order.objects.get(pk=later.json()["id"])
    assert (first.status, first.filled_avg_price) == ("filled", D("106.015481"))
    assert (second.status, second.triggered_at is not None, second.held) == ("new", True, D("211.211"))
    assert "order_triggered" in events_of(user)
    tick("105.4")
    second.refresh_from_db()
    assert (second.status, second.filled_avg_price, second.fee) == ("filled", D("105.5"), D("0.0422"))
    assert Fill.objects.get(order=second).liquidity == "maker"
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_a_triggered_ioc_stop_limit_that_cannot_fill_is_canceled(trader, user):
    set_price(D("100"))
    order = place(trader, type="stop_limit", qty="1", stop_price="105", limit_price="105.5", time_in_force="ioc",
                  client_order_id="i").json()  # fmt: skip
    assert order["status"] == "new"
    tick("106")
    assert Order.objects.get(pk=order["id"]).status == "canceled"
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_a_halted_market_holds_its_buy_stops_until_it_resumes(trader, user):
    set_price(D("100"))
    order = _stop(trader, client_order_id="h").json()
    Market.objects.filter(symbol="SOL-USD").update(status=MarketStatus.HALTED)
    registry_clear()
    tick("106")
    assert Order.objects.get(pk=order["id"]).status == "new"
    Market.objects.filter(symbol="SOL-USD").update(status=MarketStatus.ACTIVE)
    registry_clear()
    tick("106")
    assert Order.objects.get(pk=order["id"]).status == "filled"
    assert_books_ok()


def test_canceling_a_stop_releases_its_hold(trader, user):
    set_price(D("100"))
    order = _stop(trader, client_order_id="c").json()
    assert trader.delete(f"/api/v1/orders/{order['id']}").json()["status"] == "canceled"
    assert balances_of(user)["USD_locked"] == 0 and balances_of(user)["USD"] == D("10000")
    tick("110")
    assert not Fill.objects.exists()
    assert_books_ok()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"stop_price": ...}, 400, "required"),
        ({"type": "stop_limit"}, 400, "required"),
        ({"limit_price": "106"}, 400, "not_allowed_for_type"),
        ({"post_only": True}, 400, "not_allowed_for_type"),
        ({"time_in_force": "ioc"}, 400, "tif_not_allowed"),
        ({"time_in_force": "day"}, 400, "invalid_choice"),
        ({"qty": ..., "notional": "100"}, 400, "qty_required_for_type"),
        ({"stop_price": "-1"}, 400, "not_positive"),
        ({"stop_price": "99"}, 422, "stop_wrong_side"),
        ({"side": "sell", "stop_price": "101"}, 422, "stop_wrong_side"),
        ({"stop_price": "105.0000001"}, 422, "price_off_tick"),
        ({"stop_price": "151"}, 422, "price_out_of_band"),
        ({"type": "stop_limit", "limit_price": "40"}, 422, "price_out_of_band"),
        ({"qty": "100"}, 422, "insufficient_funds"),
    ],
)
def test_bad_stop_orders_are_refused_with_a_code_and_change_nothing(trader, user, fields, status, code):
    set_price(D("100"))
    response = _stop(trader, client_order_id="bad", **fields)
    assert response.status_code == status, response.json()
    payload = response.json()
    got = payload["code"] if status == 422 else next(iter(payload["extra"]["fields"].values()))[0]["code"]
    assert got == code
    assert balances_of(user)["USD"] == D("10000") and balances_of(user)["USD_locked"] == 0
    assert not Order.objects.filter(user=user).exists()


def test_a_market_order_refuses_stop_price(trader):
    set_price(D("100"))
    response = place(trader, stop_price="105")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["stop_price"][0]["code"] == "not_allowed_for_type"


def test_a_halted_market_holds_its_resting_buy_limits_and_fills_its_sells(trader, user):
    set_price(D("100"))
    assert place(trader, qty="2", client_order_id="b").status_code == 201
    buy = place(trader, type="limit", qty="1", limit_price="95", client_order_id="lb").json()
    sell = place(trader, type="limit", side="sell", qty="1", limit_price="105", client_order_id="ls").json()
    Market.objects.filter(symbol="SOL-USD").update(status=MarketStatus.HALTED)
    registry_clear()
    tick("94")
    tick("106")
    assert Order.objects.get(pk=buy["id"]).status == "new" and Order.objects.get(pk=sell["id"]).status == "filled"
    Market.objects.filter(symbol="SOL-USD").update(status=MarketStatus.ACTIVE)
    registry_clear()
    tick("94")
    assert Order.objects.get(pk=buy["id"]).status == "filled"
    assert_books_ok()
