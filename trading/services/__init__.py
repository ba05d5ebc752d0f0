"""Trading's commands (docs/trading.md, docs/positions.md)."""

from trading.services.orders import PlacedOrder, order_place

__all__ = ["PlacedOrder", "order_place"]
