"""Every write of the trading app (see docs/trading.md)."""

from trading.services.orders import PlacedOrder, order_place, order_transition

__all__ = ["PlacedOrder", "order_place", "order_transition"]
