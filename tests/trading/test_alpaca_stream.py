"""Alpaca's trading stream, ``/stream``: the real alpaca-py ``TradingStream`` receives
``trade_updates`` for the orders the real ``TradingClient`` places (new -> fill, canceled,
replaced), each parsed by alpaca-py's ``TradeUpdate``; the raw protocol (both auth forms, binary
frames, an unauthorized key) answered as Alpaca does."""

from __future__ import annotations

import json
import queue
from decimal import Decimal as D

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream
from websockets.sync.client import connect

from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.alpaca_live import alpaca_server, stream_listening  # noqa: F401  (the fixture)
from tests.trading.helpers import set_price
from tests.trading.order_helpers import tick

pytestmark = pytest.mark.django_db(transaction=True)


def _next(updates: queue.Queue, timeout: float = 10):
    try:
        return updates.get(timeout=timeout)
    except queue.Empty:
        pytest.fail("no trade update arrived")


def test_trading_stream_receives_new_fill_canceled_replaced(alpaca_server):  # noqa: F811
    """Every committed order event reaches alpaca-py as a TradeUpdate, in order."""
    set_price(D("150"))
    key_id, secret = create_api_key(make_user())
    client = TradingClient(key_id, secret, paper=True, url_override=alpaca_server)
    stream = TradingStream(key_id, secret, paper=True, url_override=alpaca_server.replace("http", "ws") + "/stream")
    updates: queue.Queue = queue.Queue()

    async def on_update(update) -> None:
        updates.put(update)

    runner = stream_listening(client, stream, on_update, limit_price=80)
    try:
        bought = client.submit_order(
            MarketOrderRequest(symbol="SOL/USD", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC)
        )
        new, fill = _next(updates), _next(updates)
        assert (new.event, new.order.id, new.order.status) == ("new", bought.id, OrderStatus.NEW)
        assert (fill.event, fill.order.id, fill.order.status) == ("fill", bought.id, OrderStatus.FILLED)
        assert fill.qty == 2 and fill.position_qty == 2 and fill.price == float(bought.filled_avg_price)
        assert fill.execution_id is not None and fill.order.filled_qty == "2"

        resting = client.submit_order(
            LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=140, side=OrderSide.BUY, time_in_force="gtc")
        )
        accepted = _next(updates)
        assert (accepted.event, accepted.order.id, accepted.order.status) == ("new", resting.id, OrderStatus.NEW)
        tick("139")  # the limit engine fills it as the maker, at its own price
        maker = _next(updates)
        assert (maker.event, maker.order.id, maker.price, maker.qty, maker.position_qty) == (
            "fill", resting.id, 140.0, 1.0, 3.0,
        )  # fmt: skip

        other = client.submit_order(
            LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY, time_in_force="gtc")
        )
        assert _next(updates).event == "new"
        client.cancel_order_by_id(other.id)
        canceled = _next(updates)
        assert (canceled.event, canceled.order.id, canceled.order.status) == ("canceled", other.id, "canceled")

        old = client.submit_order(
            LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY, time_in_force="gtc")
        )
        assert _next(updates).order.id == old.id
        new_order = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=101))
        born, replaced = _next(updates), _next(updates)
        assert (born.event, born.order.id) == ("new", new_order.id)
        assert (replaced.event, replaced.order.id, replaced.order.replaced_by) == ("replaced", old.id, new_order.id)
        assert updates.empty()
    finally:
        stream.stop()
        runner.join(10)
    assert_books_ok()


def _frame(ws) -> dict:
    raw = ws.recv(timeout=5)
    return json.loads(raw)


def test_stream_protocol_both_auth_forms_binary_and_unauthorized(alpaca_server):  # noqa: F811
    """The next frame after an auth action is the authorization frame (nothing before it); the
    short ``auth`` form and binary frames work; a wrong secret is unauthorized and closed."""
    key_id, secret = create_api_key(make_user())
    url = alpaca_server.replace("http", "ws") + "/stream"
    with connect(url) as ws:
        ws.send(json.dumps({"action": "auth", "key": key_id, "secret": secret}).encode())  # a binary frame
        assert _frame(ws) == {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates", "other"]}}))
        assert _frame(ws) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    with connect(url) as ws:
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert _frame(ws)["data"]["status"] == "unauthorized"  # listen before auth
        ws.send(json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": "spk_wrong"}}))
        refused = _frame(ws)
        assert refused["stream"] == "authorization" and refused["data"]["status"] == "unauthorized"
        with pytest.raises(Exception, match="4003"):
            ws.recv(timeout=5)
