"""alpaca-py against the real stack's web tier (``config.supervisor --web``: nginx in front of
gunicorn for ``/v2`` and daphne for ``/stream``), as ``make run`` serves it: the client's order
and its ``new`` -> ``fill`` on the stream, a cancel, and an unknown path in Alpaca's shape."""

from __future__ import annotations

import queue
from decimal import Decimal as D

import httpx
import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream

from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.proof.stack import web_tier
from tests.trading.alpaca_live import stream_listening
from tests.trading.helpers import set_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_alpaca_py_through_nginx_gunicorn_and_daphne(django_db_setup):
    set_price(D("150"))
    key_id, secret = create_api_key(make_user())
    with web_tier() as web:
        client = TradingClient(key_id, secret, paper=True, url_override=web.url)
        stream = TradingStream(key_id, secret, paper=True, url_override=web.url.replace("http", "ws") + "/stream")
        updates: queue.Queue = queue.Queue()

        async def on_update(update) -> None:
            updates.put(update)

        runner = stream_listening(client, stream, on_update, limit_price=80)
        try:
            bought = client.submit_order(
                MarketOrderRequest(symbol="SOL/USD", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC)
            )
            assert bought.status == OrderStatus.FILLED
            first, second = updates.get(timeout=15), updates.get(timeout=15)
            assert [(u.event, u.order.id) for u in (first, second)] == [("new", bought.id), ("fill", bought.id)]
            resting = client.submit_order(
                LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY, time_in_force="gtc")
            )
            client.cancel_order_by_id(resting.id)
            events = [updates.get(timeout=15) for _ in range(2)]
            assert [(u.event, u.order.id) for u in events] == [("new", resting.id), ("canceled", resting.id)]
        finally:
            stream.stop()
            runner.join(10)
        missing = httpx.get(f"{web.url}/v2/nope", headers={"Accept": "text/html"}, timeout=10)
        assert missing.status_code == 404 and missing.json() == {"code": 40410000, "message": "endpoint not found"}
    assert_books_ok()
