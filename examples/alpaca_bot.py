#!/usr/bin/env python3
"""A small grid bot written against Alpaca's official client, alpaca-py, trading SOL on this
platform unchanged: only the URLs point here (docs/alpaca.md).

    export APCA_API_KEY_ID=PK...  APCA_API_SECRET_KEY=spk_...   # an API key with the trade scope
    .venv/bin/python examples/alpaca_bot.py --url http://127.0.0.1:8000 --qty 0.5 --step-pct 1 --seconds 60

What it does: prints the account and the clock, buys ``--qty`` SOL at market, places a limit
sell ``--step-pct`` above the fill and a limit buy as far below it, then listens to the
``trade_updates`` stream for ``--seconds`` and, each time one of its limits fills, places the next
one a step away on the other side. At the end it cancels its open orders (and with ``--flatten``
closes the position). Market data: Alpaca's data API is not served here; the bot reads the index
price from ``GET /api/v1/markets/SOL-USD``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from decimal import ROUND_DOWN, Decimal
from typing import TypeVar

import httpx
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Asset, Clock, ClosePositionResponse, Order, Position, TradeAccount, TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream

SYMBOL = "SOL/USD"
M = TypeVar("M")


def parsed(value: object, model: type[M]) -> M:
    """alpaca-py answers its own models (``raw_data=False``, the default): say so to the type checker."""
    assert isinstance(value, model), value
    return value


def index_price(url: str) -> Decimal:
    response = httpx.get(f"{url}/api/v1/markets/SOL-USD", timeout=10)
    response.raise_for_status()
    return Decimal(response.json()["price"])


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_DOWN) * tick


class GridBot:
    def __init__(self, client: TradingClient, *, qty: Decimal, step_pct: Decimal, tick: Decimal) -> None:
        self.client, self.qty, self.step, self.tick = client, qty, step_pct / 100, tick
        self.fills: list[TradeUpdate] = []

    def limit(self, side: OrderSide, price: Decimal) -> None:
        limit_price = float(on_tick(price, self.tick))
        request = LimitOrderRequest(symbol=SYMBOL, qty=float(self.qty), side=side, time_in_force=TimeInForce.GTC,
                                    limit_price=limit_price)  # fmt: skip
        order = parsed(self.client.submit_order(request), Order)
        print(f"  {side.value:4} limit {order.qty} @ {order.limit_price}  ({order.status.value}, id {order.id})")

    def start(self, price: Decimal) -> None:
        request = MarketOrderRequest(symbol=SYMBOL, qty=float(self.qty), side=OrderSide.BUY, time_in_force="gtc")
        bought = parsed(self.client.submit_order(request), Order)
        filled = Decimal(bought.filled_avg_price or price)
        print(f"bought {bought.filled_qty} SOL at {filled} (index {price})")
        self.limit(OrderSide.SELL, filled * (1 + self.step))
        self.limit(OrderSide.BUY, filled * (1 - self.step))

    async def on_update(self, update: TradeUpdate) -> None:
        order = update.order
        print(f"trade update: {update.event} {order.side.value if order.side else ''} {order.symbol} {order.id}"
              + (f" at {update.price}, position {update.position_qty}" if update.event == "fill" else ""))  # fmt: skip
        if update.event == "fill" and order.type is not None and order.type.value == "limit" and update.price:
            self.fills.append(update)
            price = Decimal(str(update.price))
            opposite = OrderSide.BUY if order.side == OrderSide.SELL else OrderSide.SELL
            self.limit(opposite, price * (1 - self.step) if opposite == OrderSide.BUY else price * (1 + self.step))


def run(url: str, key: str, secret: str, *, qty: Decimal, step_pct: Decimal, seconds: float, flatten: bool) -> int:
    client = TradingClient(key, secret, paper=True, url_override=url)
    account = parsed(client.get_account(), TradeAccount)
    print(f"account {account.account_number}: cash {account.cash} USD, equity {account.equity}")
    print(f"market open: {parsed(client.get_clock(), Clock).is_open} (the venue trades 24/7)")
    asset = parsed(client.get_asset(SYMBOL), Asset)
    bot = GridBot(client, qty=qty, step_pct=step_pct, tick=Decimal(str(asset.price_increment)))
    stream = TradingStream(key, secret, paper=True, url_override=url.replace("http", "ws", 1) + "/stream")
    stream.subscribe_trade_updates(bot.on_update)
    listener = threading.Thread(target=stream.run, daemon=True)
    listener.start()
    pause = threading.Event()
    pause.wait(2)  # let the stream connect and listen before the first order
    bot.start(index_price(url))
    pause.wait(seconds)
    stream.stop()
    listener.join(10)
    canceled = client.cancel_orders()
    print(f"canceled {len(canceled)} open order(s)")
    if flatten:
        for closed in (parsed(c, ClosePositionResponse) for c in client.close_all_positions(cancel_orders=True)):
            print(f"closed {closed.symbol}: status {closed.status}")
    for position in (parsed(p, Position) for p in client.get_all_positions()):
        print(f"position {position.symbol}: {position.qty} at {position.avg_entry_price}, P/L {position.unrealized_pl}")
    print(f"equity now {parsed(client.get_account(), TradeAccount).equity} USD; grid fills: {len(bot.fills)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("APCA_API_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("APCA_API_KEY_ID"))
    parser.add_argument("--secret", default=os.environ.get("APCA_API_SECRET_KEY"))
    parser.add_argument("--qty", type=Decimal, default=Decimal("0.5"))
    parser.add_argument("--step-pct", type=Decimal, default=Decimal("1"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--flatten", action="store_true", help="close the position at the end")
    args = parser.parse_args(argv)
    if not args.key or not args.secret:
        parser.error("give --key/--secret or set APCA_API_KEY_ID / APCA_API_SECRET_KEY")
    url = args.url.rstrip("/")
    return run(url, args.key, args.secret, qty=args.qty, step_pct=args.step_pct, seconds=args.seconds,
               flatten=args.flatten)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
