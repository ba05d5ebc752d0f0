"""Helpers of the resting-order tests: an accepted tick through pricing (its hook runs the
liquidations, then the stops, then the resting limits), a trader's event types, an order's POST."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

from pricing.aggregate import IndexPrice
from pricing.services.ticks import price_tick_accept
from realtime.models import UserEvent
from tests.trading.helpers import order_body


def tick(price: str, symbol: str = "SOL-USD", *, bid: str | None = None, ask: str | None = None) -> None:
    """An accepted tick through pricing: the record, then the hook."""
    index = IndexPrice(
        price=D(price), bid=D(bid) if bid else None, ask=D(ask) if ask else None, sources=("synthetic",),
        dispersion=D(0), usd_prices={},
    )  # fmt: skip
    price_tick_accept(index=index, mode="synthetic", computed_at=datetime.now(timezone.utc), symbol=symbol)


def events_of(user) -> list[str]:
    return list(UserEvent.objects.filter(user=user).order_by("seq").values_list("type", flat=True))


def place(client, **fields):
    return client.post("/api/v1/orders", order_body(**fields), format="json")
