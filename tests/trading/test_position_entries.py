"""Limit entries for positions (``POST /api/v1/positions`` with ``type: limit``): the USD hold
(margin + taker fee at the limit), the maker fill by the crossing tick, taker fill on arrival,
time in force, cancel and expiry releasing the hold, fill-time rejection, bad inputs.

Figures (no slippage, position fee 10 bps, maker fee 2 bps, SOL-PERP mmr 0.5%, start 10,000 USD,
index 100): a long entry of qty 10 at 95 with 10x holds margin 950/10 = 95 plus fee 0.95 = 95.95;
filled at 95 it pays margin 95 and the maker fee 950·0.0002 = 0.19.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.position_helpers import (
    market_set,
    open_body,
    open_position,
    perp_book_setup,
    set_index_price,
    user_events,
)
from trading.models import Order, Position, PositionOrder
from trading.services.order_end import orders_expire_due
from trading.tasks import liquidate_on_tick

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(10), TRADING_MAKER_FEE_BPS=D(2), TRADING_PRICE_BAND_PCT=D(50))


def entry_body(**overrides) -> dict:
    return open_body(**{"type": "limit", "margin": ..., "qty": "10", "limit_price": "95", **overrides})


def place(client, **overrides) -> dict:
    response = client.post("/api/v1/positions", entry_body(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def tick(price: D) -> None:
    computed_at = set_index_price("SOL-USD", price)
    liquidate_on_tick.run(str(price), computed_at.isoformat(), "SOL-USD")


def test_a_resting_entry_holds_margin_and_fee_then_fills_as_maker(trader, user):
    """Placed: order new, 95.95 USD held (free 9904.05). A tick at 96 leaves it; a tick at 94.5
    fills it at 95: a long of 10 at 95, margin 95, fee 0.19, liquidation (95 - 9.5)/0.995 =
    85.929648... -> 85.929649; free 10000 - 95 - 0.19 = 9904.81, locked 95; hold released."""
    order = place(trader)
    assert (order["status"], order["type"], order["side"], order["held_asset"]) == ("new", "limit", "buy", "USD")
    assert (D(order["held"]), D(order["leverage"]), D(order["limit_price"])) == (D("95.95"), D(10), D(95))
    assert balances_of(user)["USD"] == D("9904.05") and balances_of(user)["USD_locked"] == D("95.95")
    tick(D(96))
    assert Order.objects.get().status == "new" and not Position.objects.exists()
    tick(D("94.5"))
    row = Order.objects.get()
    assert (row.status, row.held, row.filled_qty, row.filled_avg_price) == ("filled", 0, D(10), D(95))
    assert row.fee == D("0.19")
    position = Position.objects.get()
    assert (position.side, position.qty, position.entry_price, position.margin, position.fee) == (
        "long",
        D(10),
        D(95),
        D(95),
        D("0.19"),
    )
    assert position.liquidation_price == D("85.929649") and position.leverage == D(10)
    assert balances_of(user)["USD"] == D("9904.81") and balances_of(user)["USD_locked"] == D(95)
    record = PositionOrder.objects.get()
    assert (record.client_order_id, record.action, record.price) == (f"entry:{row.id}", "open", D(95))
    fills = user_events(user, "order_fill")
    assert len(fills) == 1
    fill = fills[0]["data"]
    assert (fill["liquidity"], fill["price"], fill["position_id"]) == ("maker", "95.000000000", str(position.id))
    assert LedgerTransaction.objects.filter(reference_id=str(row.id), reason="hold").count() == 2  # hold, release
    assert_books_ok()


def test_a_short_entry_mirrors(trader, user):
    """Short 10 at 105: holds 105 + 1.05 = 106.05; a tick at 105.5 fills it at 105 (fee 0.21)."""
    place(trader, side="short", limit_price="105")
    assert balances_of(user)["USD_locked"] == D("106.05")
    tick(D(104))
    assert Order.objects.get().status == "new"
    tick(D("105.5"))
    position = Position.objects.get()
    assert (position.side, position.entry_price, position.fee) == ("short", D(105), D("0.21"))
    assert balances_of(user)["USD"] == D("9894.79") and balances_of(user)["USD_locked"] == D(105)
    assert_books_ok()


def test_marketable_on_arrival_fills_at_once_as_the_taker(trader, user):
    """A long limit at 101 with the index at 100 opens at 100 at once (fee 1): 201 with the position."""
    body = place(trader, limit_price="101", client_order_id="e-1")
    assert (body["side"], D(body["entry_price"]), D(body["qty"]), D(body["fee"])) == ("long", D(100), D(10), D(1))
    order = Order.objects.get()
    assert (order.status, order.filled_avg_price, order.held) == ("filled", D(100), 0)
    assert balances_of(user)["USD"] == D(9899)
    replay = trader.post("/api/v1/positions", entry_body(limit_price="101", client_order_id="e-1"), format="json")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["id"] == body["id"]
    assert_books_ok()


@pytest.mark.parametrize(("tif", "status"), [("gtc", "new"), ("ioc", "canceled"), ("fok", "canceled")])
def test_marketable_but_slipped_past_the_limit_rests_or_is_canceled(settings, trader, user, tif, status):
    """Spread 2 bps: a long at limit 100 would enter at 100.01, worse than its limit: gtc rests
    (holds 100 + 1 = 101), ioc/fok are born canceled holding nothing."""
    settings.TRADING_SPREAD_BPS = D(2)
    order = place(trader, limit_price="100", time_in_force=tif)
    assert order["status"] == status
    assert balances_of(user)["USD_locked"] == (D(101) if status == "new" else 0)
    assert not Position.objects.exists()


def test_cancel_and_expiry_release_the_hold(trader, user):
    order = place(trader)
    response = trader.delete(f"/api/v1/orders/{order['id']}")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert balances_of(user)["USD"] == D(10000) and balances_of(user)["USD_locked"] == 0
    expire_at = timezone.now() + timedelta(hours=1)
    place(trader, client_order_id="e-2", time_in_force="gtd", expire_at=expire_at.isoformat())
    assert orders_expire_due(now=expire_at + timedelta(seconds=1)) == 1
    assert balances_of(user)["USD"] == D(10000) and balances_of(user)["USD_locked"] == 0
    tick(D(90))
    assert not Position.objects.exists()
    assert_books_ok()


def test_an_entry_against_the_position_reduces_it_at_its_limit(trader, user):
    """Long 10 at 100 (free 9899); a short entry of 4 at 105 holds 42 + 0.42; a tick at 105.5
    fills it: the long is reduced by 4 at 105: pnl 20, fee 4·105·0.0002 = 0.084, released margin
    40, payout 59.916 -> free 9958.916, locked 60."""
    open_position(trader)
    place(trader, side="short", qty="4", limit_price="105", client_order_id="e-1")
    assert balances_of(user)["USD"] == D("9856.58")
    tick(D("105.5"))
    position = Position.objects.get()
    assert (position.side, position.qty, position.margin) == ("long", D(6), D(60))
    assert PositionOrder.objects.get(client_order_id__startswith="entry:").action == "reduce"
    assert balances_of(user)["USD"] == D("9958.916") and balances_of(user)["USD_locked"] == D(60)
    assert_books_ok()


def test_a_fill_that_breaks_a_rule_ends_rejected_and_releases_the_hold(trader, user):
    """The market was halted after the entry rested: the crossing tick rejects it (code
    market_halted), nothing opened, the hold back to free."""
    place(trader)
    market_set("SOL-PERP", status="halted")
    tick(D(94))
    order = Order.objects.get()
    assert (order.status, order.held) == ("rejected", 0)
    assert not Position.objects.exists() and not PositionOrder.objects.exists()
    rejected = user_events(user, "order_rejected")[-1]["data"]
    assert rejected["code"] == "market_halted"
    assert balances_of(user)["USD"] == D(10000) and balances_of(user)["USD_locked"] == 0
    assert_books_ok()


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"limit_price": "40"}, 422, "price_out_of_band"),
        ({"limit_price": "95.0000001"}, 422, "price_off_tick"),
        ({"qty": "300", "leverage": "2"}, 422, "insufficient_funds"),  # holds 14250 + 28.5
        ({"qty": "10.0001"}, 422, "qty_off_step"),
        ({"leverage": "25"}, 400, "validation_error"),
        ({"limit_price": ...}, 400, "validation_error"),
        ({"take_profit_price": "110"}, 400, "validation_error"),
        ({"time_in_force": "gtd"}, 400, "validation_error"),
        ({"time_in_force": "day"}, 400, "validation_error"),
        ({"expire_at": "2020-01-01T00:00:00Z", "time_in_force": "gtd"}, 400, "validation_error"),
        ({"type": "stop"}, 400, "validation_error"),
    ],
)
def test_bad_entries_are_refused_and_change_nothing(trader, user, overrides, status, code):
    before = balances_of(user)
    response = trader.post("/api/v1/positions", entry_body(**overrides), format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert not Order.objects.exists() and not Position.objects.exists() and balances_of(user) == before


def test_market_orders_take_no_entry_fields(trader):
    response = trader.post("/api/v1/positions", open_body(limit_price="95"), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["limit_price"][0]["code"] == "not_allowed_for_type"


def test_a_halted_market_refuses_entries_and_the_open_orders_cap_applies(settings, trader):
    settings.TRADING_MAX_OPEN_ORDERS = 1
    place(trader)
    response = trader.post("/api/v1/positions", entry_body(client_order_id="e-2"), format="json")
    assert (response.status_code, response.json()["code"]) == (422, "too_many_open_orders")
    market_set("SOL-PERP", status="halted")
    response = trader.post("/api/v1/positions", entry_body(client_order_id="e-3"), format="json")
    assert (response.status_code, response.json()["code"]) == (422, "market_halted")


def test_the_crossed_entries_are_range_scans_of_the_resting_limit_index(trader):
    from datetime import datetime, timezone

    from django.db import connection

    from trading.models import RESTING_LIMIT

    place(trader)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE trading_order")
        cursor.execute("SET LOCAL enable_seqscan = off")
    before = datetime.now(timezone.utc)
    qs = Order.objects.filter(
        RESTING_LIMIT, symbol__in=["SOL-PERP"], created_at__lte=before, side="buy", limit_price__gte=D(94)
    )
    plan = qs.values("id").explain()
    assert "order_open_sym_side_limit" in plan and "Index Cond" in plan, plan
