"""The real alpaca-py ``TradingClient`` against a running server (``/v2``, docs/alpaca.md): every
answer is parsed by alpaca-py's own models; the same trades show through ``/api/v1`` and the
ledger reconciles."""

from __future__ import annotations

from decimal import Decimal as D
from uuid import UUID

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, OrderSide, OrderStatus, OrderType, QueryOrderStatus, TimeInForce
from alpaca.trading.models import NonTradeActivity, TradeActivity
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
)

from portfolio.services.snapshots import equity_snapshot_take_all
from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, authed_client, make_user
from tests.trading.alpaca_live import alpaca_server  # noqa: F401  (the fixture)
from tests.trading.helpers import set_price
from trading.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(alpaca_server):  # noqa: F811
    set_price(D("150"))
    user = make_user()
    key_id, secret = create_api_key(user)
    trading = TradingClient(key_id, secret, paper=True, url_override=alpaca_server)
    trading.user = user  # type: ignore[attr-defined]
    return trading


def test_account_clock_and_assets_parse(client):
    """The account is the portfolio in Alpaca's fields; the clock is 24/7; an asset is found by
    ``SOL/USD``, ``SOLUSD`` and its id, each the same crypto asset with the registry's lot rules."""
    account = client.get_account()
    assert account.cash == "10000" and account.buying_power == "10000" and account.currency == "USD"
    assert account.equity == "10000" and account.shorting_enabled is False
    clock = client.get_clock()
    assert clock.is_open is True and clock.next_close > clock.timestamp
    assets = client.get_all_assets(GetAssetsRequest(asset_class=AssetClass.CRYPTO))
    symbols = {asset.symbol for asset in assets}
    assert "SOL/USD" in symbols and all(asset.asset_class == AssetClass.CRYPTO for asset in assets)
    by_pair, by_name = client.get_asset("SOL/USD"), client.get_asset("SOLUSD")
    by_id = client.get_asset(UUID(str(by_pair.id)))
    assert by_pair.id == by_name.id == by_id.id
    assert by_pair.exchange == "CRYPTO" and by_pair.fractionable and not by_pair.shortable
    assert by_pair.min_order_size == 0.001 and by_pair.min_trade_increment == 0.001
    with pytest.raises(APIError) as missing:
        client.get_asset("NOPE/USD")
    assert missing.value.status_code == 404 and missing.value.code == 40410000


def test_orders_through_alpaca_py(client):
    """Market qty and notional orders fill; a resting limit is canceled by id, a stop-limit by
    cancel-all; a replace makes a new order; lookup by client order id, and its reuse refused."""
    first = MarketOrderRequest(
        symbol="SOL/USD", qty=1.5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, client_order_id="bot-1"
    )
    bought = client.submit_order(first)
    assert bought.status == OrderStatus.FILLED and bought.symbol == "SOL/USD" and bought.filled_qty == "1.5"
    assert D(bought.filled_avg_price) > D("150")
    by_cash = client.submit_order(MarketOrderRequest(symbol="SOLUSD", notional=100, side=OrderSide.BUY,
                                                     time_in_force=TimeInForce.IOC))  # fmt: skip
    assert by_cash.notional == "100" and by_cash.qty is None and D(by_cash.filled_qty) > 0
    assert client.get_order_by_client_id("bot-1").id == bought.id
    with pytest.raises(APIError) as duplicate:
        client.submit_order(MarketOrderRequest(symbol="SOL/USD", qty=1, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.GTC, client_order_id="bot-1"))  # fmt: skip
    assert duplicate.value.status_code == 422
    assert (duplicate.value.code, duplicate.value.message) == (40010001, "client_order_id must be unique")

    resting = client.submit_order(LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100.5, side=OrderSide.BUY,
                                                    time_in_force=TimeInForce.GTC))  # fmt: skip
    assert resting.status == OrderStatus.NEW and resting.limit_price == "100.5" and resting.type == OrderType.LIMIT
    assert client.get_account().buying_power != client.get_account().cash  # the hold
    client.cancel_order_by_id(resting.id)
    assert client.get_order_by_id(resting.id).status == OrderStatus.CANCELED

    stop = client.submit_order(StopLimitOrderRequest(symbol="SOL/USD", qty=1, stop_price=200, limit_price=201,
                                                     side=OrderSide.BUY, time_in_force=TimeInForce.GTC))  # fmt: skip
    assert stop.status == OrderStatus.NEW and stop.stop_price == "200"
    canceled = client.cancel_orders()
    assert [str(c.id) for c in canceled] == [str(stop.id)] and canceled[0].status == 200
    assert client.cancel_orders() == []

    old = client.submit_order(LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY,
                                                time_in_force=TimeInForce.GTC))  # fmt: skip
    new = client.replace_order_by_id(old.id, ReplaceOrderRequest(qty=2, limit_price=101))
    assert new.replaces == old.id and new.qty == "2" and new.limit_price == "101" and new.status == OrderStatus.NEW
    replaced = client.get_order_by_id(old.id)
    assert replaced.status == OrderStatus.REPLACED and replaced.replaced_by == new.id

    with pytest.raises(APIError) as unknown:
        client.get_order_by_id("00000000-0000-4000-8000-000000000000")
    assert (unknown.value.status_code, unknown.value.message) == (404, "order is not found.")

    history = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, direction="asc"))
    assert [o.created_at for o in history] == sorted(o.created_at for o in history) and len(history) == 6
    assert [o.id for o in client.get_orders()] == [new.id]  # the default: open orders only
    closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=2))
    assert len(closed) == 2 and closed[0].created_at >= closed[1].created_at  # newest first

    # the same orders through /api/v1, and the books reconcile
    ours = authed_client(client.user).get("/api/v1/orders", {"limit": 50}).json()["results"]
    assert {o["id"] for o in ours} == {str(o.id) for o in history}
    assert Order.objects.filter(user=client.user).count() == 6
    assert_books_ok()


def test_positions_close_history_and_activities(client):
    """Positions by every form, close 50 % then all, the portfolio history and the activities."""
    client.submit_order(MarketOrderRequest(symbol="SOL/USD", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC))
    positions = client.get_all_positions()
    assert [p.symbol for p in positions] == ["SOLUSD"] and positions[0].qty == "2" and positions[0].side == "long"
    asset = client.get_asset("SOL/USD")
    for form in ("SOLUSD", "SOL/USD", UUID(str(asset.id))):
        position = client.get_open_position(form)
        assert position.qty == "2" and position.asset_id == asset.id and position.qty_available == "2"
    assert D(positions[0].market_value) == D("300") and D(positions[0].cost_basis) > D("300")

    half = client.close_position("SOLUSD", ClosePositionRequest(percentage="50"))
    assert half.side == OrderSide.SELL and half.qty == "1" and half.status == OrderStatus.FILLED
    assert client.get_open_position("SOL/USD").qty == "1"
    client.submit_order(LimitOrderRequest(symbol="SOL/USD", qty=1, limit_price=100, side=OrderSide.BUY,
                                          time_in_force=TimeInForce.GTC))  # fmt: skip
    closed = client.close_all_positions(cancel_orders=True)
    assert [(c.symbol, c.status) for c in closed] == [("SOLUSD", 200)] and closed[0].body.qty == "1"
    assert client.get_all_positions() == [] and client.get_orders() == []
    with pytest.raises(APIError) as gone:
        client.get_open_position("SOLUSD")
    assert (gone.value.status_code, gone.value.message) == (404, "position does not exist")

    equity_snapshot_take_all()
    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1D", timeframe="1H"))
    assert len(history.timestamp) == len(history.equity) == 1 and history.base_value == 10000.0
    assert history.equity[0] < 10000  # fees and slippage paid

    raw = client.get("/account/activities")
    fills = [TradeActivity(**a) for a in raw if a["activity_type"] == "FILL"]
    cash = [NonTradeActivity(**a) for a in raw if a["activity_type"] != "FILL"]
    assert len(fills) == 3 and {f.side for f in fills} == {OrderSide.BUY, OrderSide.SELL}
    assert [c.activity_type for c in cash] == ["CSD"] and cash[0].net_amount == 10000.0
    assert [a["activity_type"] for a in client.get("/account/activities/FILL")] == ["FILL"] * 3
    assert_books_ok()
