"""The venues' stream frames (recorded in tests/pricing/fixtures) parsed into observations; acks,
refusals and malformed frames told apart; the SSE framing; the tick gate and the backoff."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pricing.streams.backoff import Backoff
from pricing.streams.backpack import BackpackStream
from pricing.streams.binance import BinanceStream
from pricing.streams.coinbase import CoinbaseStream
from pricing.streams.frames import FrameError, SubscriptionRefused
from pricing.streams.gate import TickGate
from pricing.streams.kraken import KrakenStream, ws_symbol
from pricing.streams.pyth import PythStream
from pricing.streams.sse import sse_events
from tests.pricing.conftest import FROZEN_NOW, fixture_bytes, fixture_json

NOW = datetime(2026, 2, 6, tzinfo=timezone.utc)
BTC_FEED = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"


def test_backpack_book_ticker_from_the_docs_and_ccxt_capture():
    """The docs' bookTicker (E a number) and ccxt's capture (E a string of µs): the mid in USDC,
    the source time from E; the docs' ticker frame: its last price c."""
    stream = BackpackStream("ws://x")
    frame = stream.parse(fixture_bytes("backpack_ws_bookticker_docs.json"), received_at=NOW)
    obs = frame.updates["SOL_USDC"]
    assert (obs.price, obs.bid, obs.ask, obs.quote) == (Decimal("18.685"), Decimal("18.67"), Decimal("18.70"), "USDC")
    assert obs.source_time == datetime(2023, 9, 14, 10, 39, 25, 941000, tzinfo=timezone.utc)
    assert frame.acked
    eth = stream.parse(fixture_bytes("backpack_ws_bookticker_eth_usdc_ccxt_capture.json"), received_at=NOW)
    assert eth.updates["ETH_USDC"].price == Decimal("3667.495")
    ticker = stream.parse(fixture_bytes("backpack_ws_ticker_docs.json"), received_at=NOW)
    assert ticker.updates["SOL_USD"].price == Decimal("19.24")
    assert stream.subscribe_frames(["SOL_USDC"]) == ['{"method":"SUBSCRIBE","params":["bookTicker.SOL_USDC"]}']


def test_binance_book_ticker_ack_and_refusal():
    stream = BinanceStream("ws://x")
    obs = stream.parse(fixture_bytes("binance_ws_bookticker_docs.json"), received_at=NOW).updates["BNBUSDT"]
    assert (obs.bid, obs.ask, obs.price, obs.quote) == (
        Decimal("25.35190000"), Decimal("25.36520000"), Decimal("25.35855000"), "USDT",
    )  # fmt: skip
    assert stream.parse(fixture_bytes("binance_ws_subscribe_ack_docs.json"), received_at=NOW).acked
    with pytest.raises(SubscriptionRefused, match="Invalid request"):
        stream.parse(fixture_bytes("binance_ws_error_constructed.json"), received_at=NOW)
    assert '"solusdt@bookTicker"' in stream.subscribe_frames(["SOLUSDT"])[0]


def test_coinbase_ticker_from_the_docs_subscriptions_and_error():
    stream = CoinbaseStream("ws://x")
    obs = stream.parse(fixture_bytes("coinbase_ws_ticker_docs.json"), received_at=NOW).updates["BTC-USD"]
    assert (obs.bid, obs.ask, obs.price) == (Decimal("4388"), Decimal("4388.01"), Decimal("4388.005"))
    assert obs.source_time == datetime(2017, 9, 2, 17, 5, 49, 250000, tzinfo=timezone.utc)
    assert stream.parse(fixture_bytes("coinbase_ws_subscriptions_constructed.json"), received_at=NOW).acked
    with pytest.raises(SubscriptionRefused, match="Failed to subscribe"):
        stream.parse(fixture_bytes("coinbase_ws_error_constructed.json"), received_at=NOW)
    assert not stream.parse('{"type": "heartbeat", "product_id": "SOL-USD"}', received_at=NOW).updates


def test_kraken_v2_ticker_numbers_as_decimals_under_the_registry_pair():
    stream = KrakenStream("ws://x")
    stream.subscribe_frames(["SOLUSD", "XBTUSD"])
    assert list(stream.pairs) == ["SOL/USD", "BTC/USD"] and ws_symbol("XXBTZUSD") == "BTC/USD"
    obs = stream.parse(fixture_bytes("kraken_ws_v2_ticker_sol_constructed.json"), received_at=NOW).updates["SOLUSD"]
    assert (obs.bid, obs.ask, obs.price) == (Decimal("79.07"), Decimal("79.09"), Decimal("79.08"))
    assert stream.parse(fixture_bytes("kraken_ws_v2_subscribe_ack_constructed.json"), received_at=NOW).acked
    with pytest.raises(SubscriptionRefused, match="Currency pair not supported"):
        stream.parse(fixture_bytes("kraken_ws_v2_subscribe_error_constructed.json"), received_at=NOW)
    assert not stream.parse('{"channel": "heartbeat"}', received_at=NOW).updates


def test_pyth_sse_events_from_the_docs():
    """The docs' recorded stream body: two events, BTC/USD at 61632.60 then 61630.88."""

    async def events() -> list[str]:
        async def lines():
            for line in fixture_bytes("pyth_hermes_v2_stream_btc_docs.sse.txt").decode().splitlines():
                yield line

        return [e async for e in sse_events(lines())]

    raw = asyncio.run(events())
    stream = PythStream("http://x")
    stream.request([BTC_FEED])
    prices = [stream.parse(e, received_at=NOW).updates[BTC_FEED].price for e in raw]
    assert prices == [Decimal("61632.60000000"), Decimal("61630.88000000")]


@pytest.mark.parametrize(
    ("stream", "raw", "why"),
    [
        (BackpackStream("ws://x"), '{"stream": "bookTicker.SOL_USDC", "data": {"b": "1", "a": "x", "E": 1}}', "a"),
        (BackpackStream("ws://x"), "{not json", "not JSON"),
        (BinanceStream("ws://x"), '{"s": "SOLUSDT", "b": "1.5"}', "shape"),
        (CoinbaseStream("ws://x"), '{"type": "ticker", "product_id": "SOL-USD", "best_bid": "1"}', "shape"),
        (KrakenStream("ws://x"), '{"channel": "ticker", "data": {"symbol": "SOL/USD"}}', "data list"),
        (PythStream("http://x"), '{"parsed": [{"id": 12}]}', "no usable feed"),
    ],
)
def test_a_malformed_frame_is_a_frame_error(stream, raw, why):
    with pytest.raises(FrameError, match=why):
        stream.parse(raw, received_at=NOW)


def test_the_gate_accepts_a_move_once_per_min_tick_and_an_unchanged_index_once_per_heartbeat():
    gate = TickGate(min_tick=0.25, heartbeat=1.0)
    assert gate.decide("SOL-USD", Decimal(100), 10.0)
    assert gate.wait("SOL-USD", 10.1) == pytest.approx(0.15)
    assert not gate.decide("SOL-USD", Decimal(101), 10.1)  # moved, too soon
    assert gate.decide("SOL-USD", Decimal(101), 10.25)  # moved, min tick passed
    assert not gate.decide("SOL-USD", Decimal(101), 11.0)  # unchanged, heartbeat not due
    assert gate.decide("SOL-USD", Decimal(101), 11.25)  # heartbeat
    assert gate.decide("BONK-USD", Decimal(1), 11.25)  # per index


def test_backoff_grows_to_its_cap_with_jitter_and_resets():
    backoff = Backoff(base=0.5, cap=4, rng=random.Random(7))
    ceilings = []
    for _ in range(6):
        ceilings.append(backoff.ceiling())
        assert 0 <= backoff.next() <= ceilings[-1]
    assert ceilings == [0.5, 1, 2, 4, 4, 4]
    backoff.reset()
    assert backoff.ceiling() == 0.5


def test_backpack_subscribes_perp_marks_and_parses_a_mark_price_frame():
    """A perp id (``*_PERP``) is subscribed as ``markPrice.<id>``, a spot one as ``bookTicker.<id>``;
    a ``markPrice`` frame is the perp's venue mark (Decimal, per Backpack's 1 h interval, its next
    funding from ms), not an index observation; a bad mark is a frame error."""
    stream = BackpackStream("ws://x")
    [subscribe] = stream.subscribe_frames(["SOL_USDC", "SOL_USDC_PERP"])
    assert json.loads(subscribe)["params"] == ["bookTicker.SOL_USDC", "markPrice.SOL_USDC_PERP"]
    raw = json.dumps(fixture_json("backpack_ws_mark_price_sol_constructed.json"))
    frame = stream.parse(raw, received_at=FROZEN_NOW)
    assert frame.updates == {} and frame.acked
    mark = frame.marks["SOL_USDC_PERP"]
    assert (mark.mark, mark.index, mark.funding_rate, mark.interval_hours, mark.quote) == (
        Decimal("79.1300"), Decimal("79.0900"), Decimal("0.0000125"), 1, "USDC")  # fmt: skip
    assert mark.next_funding_at == datetime(2026, 2, 6, 1, 0, tzinfo=timezone.utc)
    bad = fixture_json("backpack_ws_mark_price_sol_constructed.json")
    bad["data"]["p"] = "-1"
    with pytest.raises(FrameError):
        stream.parse(json.dumps(bad), received_at=FROZEN_NOW)
