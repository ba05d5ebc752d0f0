"""Our per-user events as Alpaca's ``trade_updates`` (the ``/stream`` socket, docs/alpaca.md).

The stream relays the same committed events as ``/ws/`` (``order_accepted`` -> ``new``,
``order_fill`` -> ``fill``, ``order_canceled`` / ``order_expired`` / ``order_rejected`` /
``order_replaced`` -> ``canceled`` / ``expired`` / ``rejected`` / ``replaced``). The full order is
read back by id (it committed before the event was published); its status is the event's. An
order that filled as it arrived (a market order, a marketable limit) never rested, so its
``fill`` is preceded by the ``new`` Alpaca sends first. A fill carries ``price``, ``qty``,
``execution_id`` (the fill's id) and ``position_qty`` (what was held right after it: the ledger
up to the fill's transaction). Perp orders are not Alpaca crypto orders: not reported.
"""

from __future__ import annotations

from typing import Any

from portfolio.selectors import asset_total_after
from pricing.models import MarketKind
from trading.alpaca.assets import market_of_symbol
from trading.alpaca.objects import num, order_object, order_object_as_new
from trading.models import Fill, Order, OrderType

EVENTS = {
    "order_accepted": "new",
    "order_fill": "fill",
    "order_canceled": "canceled",
    "order_expired": "expired",
    "order_rejected": "rejected",
    "order_replaced": "replaced",
}


def _fill_updates(order: Order, data: dict[str, Any], ts: str) -> list[dict[str, Any]]:
    fill_id = data.get("fill_id")
    fill = Fill.objects.filter(pk=str(fill_id), order=order).first() if fill_id else None
    if fill is None:
        return []
    market = market_of_symbol(order.symbol)
    held = asset_total_after(user_id=order.user_id, asset=market.asset, txn_id=fill.ledger_txn_id) if market else None
    updates: list[dict[str, Any]] = []
    if order.type == OrderType.MARKET or order.filled_at == order.created_at:
        updates.append({"event": "new", "order": order_object_as_new(order), "timestamp": ts})
    updates.append({
        "event": "fill", "execution_id": str(fill.pk), "order": order_object(order),
        "timestamp": data.get("filled_at") or ts, "price": num(fill.price), "qty": num(fill.qty),
        "position_qty": num(held),
    })  # fmt: skip
    return updates


def trade_updates(*, user_id: int, event: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``trade_updates`` data of one of ``user_id``'s events (``[]`` for any other event)."""
    kind = EVENTS.get(event.get("type", ""))
    data = event.get("data") or {}
    if kind is None or not data.get("order_id"):
        return []
    order = Order.objects.filter(pk=data["order_id"], user_id=user_id).select_related("replaced_by").first()
    market = market_of_symbol(order.symbol) if order is not None else None
    if order is None or market is None or market.kind != MarketKind.SPOT:
        return []
    ts = event.get("ts") or ""
    if kind == "fill":
        return _fill_updates(order, data, ts)
    body = order_object_as_new(order) if kind == "new" else order_object(order)
    body["status"] = kind
    return [{"event": kind, "order": body, "timestamp": ts}]
