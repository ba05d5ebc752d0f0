"""Bad inputs on ``/v2``, through the real alpaca-py and raw HTTP: each is Alpaca's error body
``{"code": int, "message": str}`` with Alpaca's status, code and wording, and nothing changes
(no order, no ledger entry)."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal as D

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from django.test import Client, override_settings

from portfolio.models import LedgerEntry
from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import make_user
from tests.trading.alpaca_live import alpaca_server  # noqa: F401  (the fixture)
from tests.trading.helpers import set_price
from trading.models import Order


def _books() -> tuple[int, int]:
    return Order.objects.count(), LedgerEntry.objects.count()


def _refused(call, status: int, code: int, message: str) -> None:
    with pytest.raises(APIError) as caught:
        call()
    error = caught.value
    assert (error.status_code, error.code) == (status, code)
    assert re.fullmatch(message, error.message), error.message
    assert set(json.loads(str(error))) == {"code", "message"}


@pytest.mark.django_db(transaction=True)
def test_bad_inputs_through_alpaca_py_change_nothing(alpaca_server):  # noqa: F811
    set_price(D("150"))
    key_id, secret = create_api_key(make_user())
    client = TradingClient(key_id, secret, paper=True, url_override=alpaca_server)
    before = _books()

    def market(**fields):
        body = {"symbol": "SOL/USD", "side": OrderSide.BUY, "time_in_force": TimeInForce.GTC, "qty": 1, **fields}
        return lambda: client.submit_order(MarketOrderRequest(**body))

    _refused(market(time_in_force=TimeInForce.DAY), 422, 40010001, "invalid crypto time_in_force")
    _refused(market(qty=0), 422, 40010001, "qty must be > 0")
    _refused(market(symbol="NOPE/USD"), 422, 40010001, 'asset "NOPE/USD" not found')
    _refused(
        market(qty=None, notional=50000), 403, 40310000,
        r"insufficient balance for USD \(requested: 500[0-9]{2}\.[0-9]+, available: 10000\)",
    )  # fmt: skip
    _refused(
        market(side=OrderSide.SELL), 403, 40310000, r"insufficient balance for SOL \(requested: 1, available: 0\)"
    )  # a short sell: spot only
    limit = LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY, time_in_force="fok")
    _refused(lambda: client.submit_order(limit), 422, 40010001, "invalid crypto time_in_force")
    unknown = uuid.uuid4()
    _refused(lambda: client.get_order_by_id(unknown), 404, 40410000, r"order is not found\.")
    _refused(lambda: client.cancel_order_by_id(unknown), 404, 40410000, r"order is not found\.")
    _refused(lambda: client.get_order_by_client_id("never-used"), 404, 40410000, r"order is not found\.")
    _refused(lambda: client.close_position("SOLUSD"), 404, 40410000, "position does not exist")
    wrong = TradingClient(key_id, "spk_" + "x" * 43, paper=True, url_override=alpaca_server)
    _refused(wrong.get_account, 401, 40110000, "request is not authorized")
    assert _books() == before


@pytest.mark.django_db(transaction=True)
def test_raw_http_errors_are_alpaca_shaped_and_never_redirect(alpaca_server):  # noqa: F811
    """Malformed JSON, missing keys, an unknown path, a trailing slash: JSON bodies, no HTML, no redirect."""
    key_id, secret = create_api_key(make_user())
    headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}
    before = _books()
    with httpx.Client(base_url=alpaca_server, follow_redirects=False, timeout=10) as http:
        answers = [
            (http.post("/v2/orders", content=b'{"symbol": "SOL/USD",', headers=headers), 400, 40010000),
            (http.post("/v2/orders", json={"symbol": "SOL/USD"}), 401, 40110000),
            (http.get("/v2/account"), 401, 40110000),
            (http.get("/v2/nope", headers=headers), 404, 40410000),
            (http.get("/v2/orders/", headers=headers), 404, 40410000),
            (http.post("/v2/orders/", json={}, headers=headers), 404, 40410000),
            (http.get("/v2/orders/not-a-uuid", headers=headers), 404, 40410000),
            (http.put("/v2/orders", json={}, headers=headers), 405, 40510000),
        ]
    for response, status, code in answers:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"code", "message"} and body["code"] == code and isinstance(body["message"], str)
    assert _books() == before


def _client(user) -> tuple[Client, dict[str, str]]:
    key_id, secret = create_api_key(user)
    return Client(), {"HTTP_APCA_API_KEY_ID": key_id, "HTTP_APCA_API_SECRET_KEY": secret}


@pytest.mark.django_db
def test_numbers_are_read_as_decimal_from_the_json_text():
    """``qty`` as a JSON number or a string is read from the text, never through float."""
    set_price(D("150"))
    user = make_user()
    http, auth = _client(user)
    body = '{"symbol": "SOLUSD", "side": "buy", "type": "market", "time_in_force": "gtc", "qty": 0.1}'
    placed = http.post("/v2/orders", body, content_type="application/json", **auth).json()
    assert placed["qty"] == "0.1" and Order.objects.get(pk=placed["id"]).qty == D("0.1")
    body = {"symbol": "SOL/USD", "side": "buy", "type": "limit", "time_in_force": "gtc", "qty": "0.25",
            "limit_price": 100.25}  # fmt: skip
    resting = http.post("/v2/orders", json.dumps(body), content_type="application/json", **auth).json()
    assert (resting["qty"], resting["limit_price"], resting["status"]) == ("0.25", "100.25", "new")
    assert Order.objects.get(pk=resting["id"]).limit_price == D("100.25")


@pytest.mark.django_db
@override_settings(ALPACA_RATE_LIMIT=(2, 60))
def test_rate_limit_is_429_with_retry_after_before_any_work():
    set_price(D("150"))
    http, auth = _client(make_user())
    body = json.dumps({"symbol": "SOL/USD", "side": "buy", "type": "market", "time_in_force": "gtc", "qty": "1"})
    assert http.get("/v2/clock", **auth).status_code == 200
    assert http.get("/v2/clock", **auth).status_code == 200
    before = _books()
    limited = http.post("/v2/orders", body, content_type="application/json", **auth)
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert _books() == before
