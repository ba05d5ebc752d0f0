"""Price ticks drive portfolio updates for account subscribers, coalesced per connection."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from realtime.groups import prices_group
from realtime.publish import event, publish
from tests.realtime.conftest import connect, receive, receive_until, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_burst_of_ticks_yields_one_portfolio_update_per_interval(settings):
    settings.WS_HEARTBEAT_SECONDS = 3600
    settings.WS_PORTFOLIO_COALESCE_MS = 600_000  # one update, then the next waits ten minutes
    session = await signed_in()
    ws = await connect(f"/ws/?token={session.token}")
    await receive(ws)
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    for n in range(20):
        await sync_to_async(publish)(prices_group(), event("price_update", {"price": f"{150 + n}.00"}))
    update = await receive_until(ws, "portfolio_update")
    assert update["data"]["reason"] == "price"
    assert Decimal(update["data"]["balances"]["USD"]["total"]) == Decimal("10000")
    assert "seq" not in update, "price-driven updates are transient, not part of the resumable stream"
    assert await ws.receive_nothing(timeout=1.0), "ticks are coalesced, not one update per tick"
    await ws.disconnect()


async def test_price_ticks_are_not_forwarded_to_account_only_subscribers(fast_ws):
    session = await signed_in()
    ws = await connect(f"/ws/?token={session.token}")
    await receive(ws)
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    await sync_to_async(publish)(prices_group(), event("price_update", {"price": "1.00"}))
    frame = await receive(ws)
    assert frame["type"] == "portfolio_update"
    await ws.disconnect()
