"""Alpaca's objects and request parsing, without a server: decimal strings never in exponent form,
the three forms of a symbol, numbers read from the JSON text, Alpaca's crypto rules."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.alpaca.assets import AssetNotFound, asset_id, asset_object, market_resolve
from trading.alpaca.errors import AlpacaError
from trading.alpaca.objects import clock_object, num
from trading.alpaca.parse import order_input

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "text"),
    [(D("0E-9"), "0"), (D("1.500000000"), "1.5"), (D("1E+2"), "100"), (D("-0.000"), "0"), (0, "0"), (None, None)],
)
def test_num_is_a_plain_decimal_string(value, text):
    assert num(value) == text


def test_a_market_is_found_by_pair_name_and_id_only_when_spot():
    sol = market_resolve("SOL/USD")
    assert market_resolve("SOLUSD") == market_resolve("sol-usd") == market_resolve(str(asset_id(sol))) == sol
    with pytest.raises(AssetNotFound):
        market_resolve("SOL-PERP")  # perps are not Alpaca crypto assets
    asset = asset_object(sol)
    assert asset["symbol"] == "SOL/USD" and asset["class"] == "crypto" and asset["min_order_size"] == "0.001"
    assert all(isinstance(asset[k], str) for k in ("min_order_size", "min_trade_increment", "price_increment"))


def test_the_clock_is_always_open():
    clock = clock_object()
    assert clock["is_open"] is True and clock["next_close"] > clock["timestamp"]


def _order(**fields):
    return order_input({"symbol": "SOL/USD", "side": "buy", "type": "market", "time_in_force": "gtc", **fields})


def test_numbers_and_strings_are_decimals():
    assert _order(qty=D("0.1")).qty == D("0.1") and _order(qty="0.25").qty == D("0.25")
    assert _order(notional=100).notional == D("100")
    placed = _order(type="stop_limit", qty="1", stop_price="200", limit_price=D("201.5"))
    assert (placed.stop_price, placed.limit_price, placed.client_order_id != "") == (D("200"), D("201.5"), True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_in_force": "day"}, "invalid crypto time_in_force"),
        ({"time_in_force": "fok"}, "invalid crypto time_in_force"),
        ({"type": "stop", "qty": "1", "stop_price": "1"}, "invalid order type for crypto order"),
        ({"qty": "0"}, "qty must be > 0"),
        ({"qty": "1e-3"}, "invalid qty"),
        ({"qty": True}, "invalid qty"),
        ({"qty": "0.0000000001"}, "qty has more than 9 decimal places"),
        ({}, "qty or notional is required"),
        ({"qty": "1", "notional": "1"}, "only one of qty or notional may be specified"),
        ({"type": "limit", "notional": "10"}, "notional is only allowed for market orders"),
        ({"type": "limit", "qty": "1"}, "limit_price is required"),
        ({"qty": "1", "limit_price": "1"}, "limit_price is not allowed for market orders"),
        ({"qty": "1", "symbol": "DOGE/USD"}, 'asset "DOGE/USD" not found'),
        ({"qty": "1", "order_class": "bracket"}, "crypto orders not allowed for advanced order_class"),
        ({"qty": "1", "client_order_id": "has space"}, "client_order_id must be 1-64 characters of A-Z a-z 0-9 _ -"),
    ],
)
def test_alpaca_crypto_rules(fields, message):
    with pytest.raises(AlpacaError) as refused:
        _order(**fields)
    assert (refused.value.status, refused.value.code, refused.value.message) == (422, 40010001, message)


@pytest.mark.django_db(transaction=True)  # as served: no test transaction around it
def test_a_v2_market_order_costs_what_an_api_v1_one_does(django_assert_num_queries):
    """``POST /v2/orders`` adds no statement to the order service's four round trips (the key,
    BEGIN, the one call, COMMIT): the Alpaca layer reads only the in-process registry and Redis."""
    from rest_framework.test import APIClient

    from tests.accounts.helpers import create_api_key
    from tests.portfolio.helpers import make_user
    from tests.trading.helpers import set_price
    from tests.trading.test_order_queries import ORDER_QUERIES

    set_price(D("150"))
    key_id, secret = create_api_key(make_user())
    client = APIClient()
    client.credentials(HTTP_APCA_API_KEY_ID=key_id, HTTP_APCA_API_SECRET_KEY=secret)
    body = {"symbol": "SOL/USD", "side": "buy", "type": "market", "time_in_force": "gtc"}
    assert client.post("/v2/orders", {**body, "qty": "1"}, format="json").status_code == 200  # warm-up
    with django_assert_num_queries(ORDER_QUERIES):
        placed = client.post("/v2/orders", {**body, "qty": "0.5"}, format="json")
    assert placed.status_code == 200 and placed.json()["status"] == "filled"


def test_perp_orders_are_not_alpaca_orders():
    """A perp limit entry (an order on SOL-PERP) is neither listed, found nor canceled by ``/v2``;
    ``/api/v1`` still has it, open."""
    from django.test import Client

    from tests.accounts.helpers import create_api_key
    from tests.portfolio.helpers import authed_client, make_user
    from tests.trading.helpers import set_price
    from tests.trading.position_helpers import open_body
    from trading.models import Order

    set_price(D("150"))
    user = make_user()
    entry = open_body(type="limit", qty="1", limit_price="120", margin=..., client_order_id="perp-entry")
    placed = authed_client(user).post("/api/v1/positions", entry, format="json")
    assert placed.status_code == 201, placed.json()
    perp = Order.objects.get(user=user, symbol="SOL-PERP")
    key_id, secret = create_api_key(user)
    http, auth = Client(), {"HTTP_APCA_API_KEY_ID": key_id, "HTTP_APCA_API_SECRET_KEY": secret}
    assert http.get("/v2/orders?status=all", **auth).json() == []
    assert http.get(f"/v2/orders/{perp.pk}", **auth).status_code == 404
    assert http.get("/v2/orders:by_client_order_id?client_order_id=perp-entry", **auth).status_code == 404
    assert http.delete("/v2/orders", **auth).json() == []
    perp.refresh_from_db()
    assert perp.status == "new"
