"""The ``prices`` subscription per market: ``symbols`` (market or index symbols) narrow it to those
tokens' indexes, the default keeps every listed index, unknown symbols get an error frame and
nothing of that frame, and the snapshot on subscribe covers each index asked for."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from pricing.markets import registry_get
from realtime.groups import prices_group
from realtime.publish import event, publish
from tests.realtime.conftest import connect, receive

pytestmark = pytest.mark.django_db(transaction=True)


def _tick(symbol: str, price: str) -> dict:
    return event("price_update", {"symbol": symbol, "price": price, "sources": ["pyth"], "markets": []})


async def _publish(symbol: str, price: str) -> dict:
    tick = _tick(symbol, price)
    assert await sync_to_async(publish)(prices_group(symbol), tick)
    return tick


async def _subscribed(ws, frame: dict) -> dict:
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"], **frame})
    reply = await receive(ws)
    assert reply["type"] == "subscribed", reply
    return reply["data"]


async def test_two_markets_receive_only_their_indexes_ticks(fast_ws):
    """BONK-USD (spot) and SOL-PERP (perp on SOL's index): ticks of BONK-USD and SOL-USD arrive,
    JUP-USD's do not."""
    ws = await connect()
    data = await _subscribed(ws, {"symbols": ["BONK-USD", "SOL-PERP"]})
    assert data == {"channels": ["prices"], "symbols": ["BONK-USD", "SOL-USD"]}
    await _publish("JUP-USD", "0.41")
    bonk = await _publish("BONK-USD", "0.0000213")
    sol = await _publish("SOL-USD", "150.25")
    got = [await receive(ws), await receive(ws)]
    assert sorted(got, key=lambda f: f["data"]["symbol"]) == [bonk, sol]
    assert await ws.receive_nothing(timeout=0.3), "JUP-USD was not subscribed"
    await ws.disconnect()


async def test_an_unknown_symbol_gets_an_error_frame_and_nothing_is_subscribed(fast_ws):
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"], "symbols": ["BONK-USD", "DOGE-USD"]})
    reply = await receive(ws)
    assert (reply["type"], reply["code"]) == ("error", "market_not_found")
    assert reply["extra"]["symbol"] == "DOGE-USD"
    await _publish("BONK-USD", "0.00002")
    assert await ws.receive_nothing(timeout=0.3), "nothing of the refused frame may be subscribed"
    for bad in ([], [3], "", ["x" * 40]):
        await ws.send_json_to({"type": "subscribe", "channels": ["prices"], "symbols": bad})
        assert (await receive(ws))["code"] in ("bad_message", "market_not_found"), bad
    await ws.send_json_to({"type": "unsubscribe", "channels": ["prices"], "symbols": ["NOPE-PERP"]})
    assert (await receive(ws))["code"] == "market_not_found"
    await ws.disconnect()


async def test_the_default_subscription_keeps_every_listed_index(fast_ws):
    """Today's clients send no symbols: they follow every listed market's index, SOL-USD first."""
    expected = await database_sync_to_async(lambda: registry_get().index_symbols())()
    ws = await connect()
    data = await _subscribed(ws, {})
    assert data["symbols"] == sorted(expected) and "SOL-USD" in expected and len(expected) >= 7
    sol = await _publish("SOL-USD", "150.25")
    assert await receive(ws) == sol
    wif = await _publish("WIF-USD", "1.5")
    assert await receive(ws) == wif
    await ws.disconnect()


async def test_unsubscribe_per_symbol_keeps_the_others(fast_ws):
    ws = await connect()
    await _subscribed(ws, {"symbols": ["BONK-PERP", "SOL-USD"]})
    await ws.send_json_to({"type": "unsubscribe", "channels": ["prices"], "symbols": ["BONK-USD"]})
    reply = await receive(ws)
    assert reply["data"] == {"channels": ["prices"], "symbols": ["SOL-USD"]}
    await _publish("BONK-USD", "0.00002")
    sol = await _publish("SOL-USD", "151")
    assert await receive(ws) == sol
    await ws.send_json_to({"type": "unsubscribe", "channels": ["prices"], "symbols": ["SOL-PERP"]})
    assert (await receive(ws))["data"] == {"channels": [], "symbols": []}
    await _publish("SOL-USD", "152")
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_the_symbols_one_socket_names_are_capped(fast_ws, settings):
    settings.WS_MAX_SYMBOLS_PER_SOCKET = 2
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"], "symbols": ["SOL-USD", "JUP-USD", "WIF-USD"]})
    reply = await receive(ws)
    assert (reply["code"], reply["extra"]) == ("too_many_symbols", {"limit": 2})
    await _subscribed(ws, {"symbols": ["SOL-USD", "JUP-USD"]})
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"], "symbols": ["WIF-USD"]})
    assert (await receive(ws))["code"] == "too_many_symbols"
    assert (await _subscribed(ws, {"symbols": ["SOL-PERP"]}))["symbols"] == ["JUP-USD", "SOL-USD"]
    await ws.disconnect()


def _accept(symbol: str, price: str) -> None:
    from pricing.aggregate import IndexPrice
    from pricing.services.ticks import price_tick_accept

    p = Decimal(price)
    index = IndexPrice(
        price=p, bid=None, ask=None, sources=("pyth", "jupiter"), dispersion=Decimal("0"), usd_prices={"pyth": p}
    )
    price_tick_accept(index=index, mode="live", computed_at=datetime.now(timezone.utc), symbol=symbol)


async def test_the_snapshot_on_subscribe_covers_each_index_asked_for(fast_ws):
    """After ``subscribed``, the latest price of each subscribed index that has one, as a
    ``price_update`` naming its index and the markets on it (a sub-cent price kept exact)."""
    await database_sync_to_async(_accept)("BONK-USD", "0.0000213")
    await database_sync_to_async(_accept)("SOL-USD", "150.25")
    ws = await connect()
    await _subscribed(ws, {"symbols": ["BONK-PERP", "JUP-USD"]})
    frame = await receive(ws)
    assert frame["type"] == "price_update" and "seq" not in frame
    assert frame["data"]["symbol"] == "BONK-USD" and frame["data"]["price"] == "0.0000213"
    assert frame["data"]["snapshot"] is True
    assert set(frame["data"]["markets"]) == {"BONK-USD", "BONK-PERP"}
    assert frame["data"]["marks"] == {  # no venue data: the perp is marked at its index
        "BONK-PERP": {"mark": "0.0000213", "index": "0.0000213", "mark_sources": [], "funding_rate": None}
    }
    assert await ws.receive_nothing(timeout=0.3), "JUP-USD has no price; SOL-USD was not asked for"
    await ws.disconnect()
