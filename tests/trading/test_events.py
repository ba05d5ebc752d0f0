"""order_fill and portfolio_update go to the user's group only after the fill commits."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from realtime.groups import user_group
from tests.trading.helpers import order_body

pytestmark = pytest.mark.django_db


def _deliver(user, callbacks, count: int) -> list[dict]:
    """Subscribe to user.<id>, run the captured on-commit callbacks, return ``count`` events."""

    async def run() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(user.id), channel)
        for callback in callbacks:
            await sync_to_async(callback)()
        return [json.loads((await layer.receive(channel))["text"]) for _ in range(count)]

    return async_to_sync(run)()


def test_fill_events_are_queued_on_commit_and_carry_the_fill(
    trader, user, price150, django_capture_on_commit_callbacks, monkeypatch
):
    """Placing an order queues order_fill then portfolio_update for after commit; they reach user.<id>
    by one direct Redis call (``realtime.publish`` never needs ``async_to_sync`` on the real stack's
    pub/sub layer: refused here)."""

    def no_hop(*_args, **_kwargs):
        raise AssertionError("async_to_sync used to publish")

    monkeypatch.setattr("realtime.publish.async_to_sync", no_hop)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = trader.post("/api/v1/orders", order_body(qty="2"), format="json").json()
    assert len(callbacks) == 1  # one publish of both events, waiting for the commit; nothing else
    fill, update = _deliver(user, callbacks, 2)
    assert fill["type"] == "order_fill"
    assert fill["data"]["order_id"] == order["id"]
    assert fill["data"]["qty"] == "2.000000000"
    assert Decimal(fill["data"]["price"]) == Decimal(order["filled_avg_price"])
    assert update["type"] == "portfolio_update"
    assert update["data"]["balances"]["SOL"]["free"] == "2.000000000"


def test_a_rejected_order_announces_nothing(trader, user, price150, django_capture_on_commit_callbacks):
    """An insufficient_funds rejection queues no event."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = trader.post("/api/v1/orders", order_body(qty="1000"), format="json")
    assert response.status_code == 422
    assert callbacks == []
