"""Ticks at stream speed: the latency from a streamed frame to ``price_update`` on a ``/ws/``
client (printed, never asserted: bench/ holds performance), and a liquidation fired by the first
streamed tick that crosses the position's liquidation price."""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal

import pytest

from pricing.selectors import price_latest_record
from tests.pricing.stream_env import running_service, stream_bench, wait_for
from tests.realtime.conftest import connect, receive
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, open_position
from trading.models import Position, PositionEvent, PositionStatus

pytestmark = pytest.mark.django_db(transaction=True)
STREAMED = {"pyth", "backpack", "coinbase", "kraken", "binance"}


async def _until_price(ws, price: Decimal, timeout: float = 5) -> float:
    deadline = time.monotonic() + timeout
    while True:
        frame = await receive(ws, max(0.05, deadline - time.monotonic()))
        if frame.get("type") == "price_update" and Decimal(frame["data"]["price"]) == price:
            return time.perf_counter()


async def test_tick_latency_from_a_streamed_frame_to_a_ws_client(settings, price_server):
    """Each price change pushed by every venue's server reaches a subscribed /ws/ client as a
    ``price_update`` at the new index; the figures (frame sent -> event received, the gate's wait
    of up to PRICE_MIN_TICK_MS included) are printed."""
    settings.WS_HEARTBEAT_SECONDS = 3600
    with stream_bench(settings, price_server, rest=False, interval=5) as bench, running_service():
        ws = await connect()
        await ws.send_json_to({"type": "subscribe", "channels": ["prices"], "symbols": ["SOL-USD"]})
        assert (await receive(ws))["type"] == "subscribed"
        servers = [*bench.ws.values(), bench.sse]
        samples = []
        for step in range(12):
            price = Decimal("80") + Decimal(step) / 10
            bench.board.sol = price
            for server in servers:
                server.push_now()
            received = await _until_price(ws, price)
            sent = min(s.sent_at[price] for s in bench.ws.values() if price in s.sent_at)
            samples.append((received - sent) * 1000)
            await asyncio.sleep(0.4)
        await ws.disconnect()
    load = open("/proc/loadavg").read().split()[:3]
    print(
        f"\nstream tick latency, frame sent -> price_update on /ws/ ({len(samples)} changes): "
        f"median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms, min {min(samples):.1f} ms "
        f"(load average {' '.join(load)})"
    )
    assert len(samples) == 12


def test_the_first_streamed_tick_that_crosses_liquidates(settings, price_server, trader):
    """A SOL-PERP long 10x opened at 100 (liquidation price between 90 and 100): the venues stream
    100, then 90; the first tick the service accepts at 90 liquidates it at 90."""
    settings.TRADING_SPREAD_BPS = Decimal(0)
    settings.TRADING_IMPACT_BPS = Decimal(0)
    market_set("SOL-PERP", mmr=Decimal("0.005"))
    set_price(Decimal(100))
    opened = open_position(trader)
    liquidation = Decimal(opened["liquidation_price"])
    assert Decimal(90) < liquidation < Decimal(100)
    with stream_bench(settings, price_server, rest=False) as bench, running_service():
        bench.board.sol = Decimal(100)
        wait_for(
            lambda: (r := price_latest_record("SOL-USD")) and STREAMED <= set(r["sources"])
            and Decimal(r["price"]) == 100,
            what="SOL-USD streamed at 100",
        )  # fmt: skip
        assert Position.objects.get().status == PositionStatus.OPEN
        bench.board.sol = Decimal(90)
        for server in [*bench.ws.values(), bench.sse]:
            server.push_now()
        row = wait_for(
            lambda: Position.objects.filter(status=PositionStatus.LIQUIDATED).first(), what="the liquidation"
        )
    record = price_latest_record("SOL-USD")
    assert row.exit_price == Decimal(90)
    assert Decimal(record["price"]) == Decimal(90) and STREAMED & set(record["sources"])
    assert PositionEvent.objects.filter(kind="liquidation").count() == 1
