"""Helpers for position tests: open through the API, run the engine on a tick."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from tests.trading.helpers import set_price


def open_body(**overrides) -> dict:
    body = {"symbol": "SOL-PERP", "side": "long", "margin": "100", "leverage": "10", "client_order_id": "p-1"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def open_position(client, **overrides) -> dict:
    response = client.post("/api/v1/positions", open_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def tick(price: Decimal) -> list[str]:
    """An accepted index tick at ``price`` (stored as the latest price) run through the engine."""
    from trading.services.liquidation import liquidation_run

    set_price(price)
    return liquidation_run(price=price, computed_at=datetime.now(timezone.utc)).liquidated


def user_events(user, event_type: str) -> list[dict]:
    from realtime.models import UserEvent

    return [e.payload for e in UserEvent.objects.filter(user=user, type=event_type).order_by("seq")]
