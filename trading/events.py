"""``order_fill`` event: one payload builder, published after commit."""

from __future__ import annotations

from typing import Any

from portfolio.money import dec9
from realtime.publish import user_event_emit
from trading.models import Fill, Order


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_fill_data(order: Order, fill: Fill) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "client_order_id": order.client_order_id,
        "fill_id": str(fill.id),
        "symbol": fill.symbol,
        "side": fill.side,
        "qty": dec9(fill.qty),
        "price": dec9(fill.price),
        "notional": dec9(fill.notional),
        "fee": dec9(fill.fee),
        "liquidity": fill.liquidity,
        "status": order.status,
        "filled_at": _iso(fill.created_at),
    }


def order_fill_publish(*, order: Order, fill: Fill) -> None:
    """Store the event with the user's next seq (inside the fill's transaction); sent after commit."""
    user_event_emit(user_id=order.user_id, event_type="order_fill", data=order_fill_data(order, fill))
