"""Every status change of an order goes through ``order_transition`` (``ORDER_TRANSITIONS``), and
every release of what a resting order held through ``hold_release`` (in the caller's transaction,
with the trader's balance rows and the order row locked, in that order)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.money import dec9
from core.timefmt import iso_utc_or_none
from portfolio.models import LedgerAccount, LedgerReason
from portfolio.pg import Key, LockedRow
from portfolio.services import ledger_post
from trading.models import ORDER_TRANSITIONS, Order, OrderStatus
from trading.services.spot_fill import release_legs


class BadTransition(Exception):
    pass


def order_transition(order: Order, to: str, *, now: datetime) -> None:
    """Move ``order`` to ``to`` (saved by the caller): refused unless the table allows it."""
    if to not in ORDER_TRANSITIONS[order.status]:
        raise BadTransition(f"order {order.pk}: {order.status} -> {to}")
    order.status = to
    if to == OrderStatus.FILLED:
        order.filled_at = now
    else:
        order.closed_at = now


def hold_release(
    order: Order, *, account: LedgerAccount, reason: str, locked: Mapping[Key, LockedRow] | None = None
) -> None:
    """Give back what ``order`` still holds (one ledger transaction, locked -> free). ``locked``:
    the trader's balance rows as the caller locked them, unchanged since (``ledger_post``)."""
    if order.held:
        ledger_post(
            reason=LedgerReason.HOLD,
            legs=release_legs(account=account, asset=order.held_asset, amount=order.held),
            reference_type="order",
            reference_id=str(order.id),
            memo=f"release: {reason}",
            shard_key=order.user_id,
            locked=locked,
        )
        order.held = Decimal(0)


def order_event_data(order: Order, **extra: Any) -> dict[str, Any]:
    """The order as ``order_accepted`` / ``order_canceled`` / ``order_expired`` /
    ``order_rejected`` / ``order_replaced`` / ``order_triggered`` carry it."""
    return {
        "order_id": str(order.id),
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "qty": dec9(order.qty),
        "limit_price": dec9(order.limit_price),
        "stop_price": dec9(order.stop_price),
        "triggered_at": iso_utc_or_none(order.triggered_at),
        "replaces": str(order.replaces_id) if order.replaces_id else None,
        "time_in_force": order.time_in_force,
        "post_only": order.post_only,
        "expire_at": iso_utc_or_none(order.expire_at),
        "status": order.status,
        "held_asset": order.held_asset,
        "held": dec9(order.held),
        "created_at": iso_utc_or_none(order.created_at),
        **extra,
    }
