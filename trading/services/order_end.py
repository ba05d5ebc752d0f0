"""Ending a resting order without a fill: the trader's cancel (one, or all open), and the sweep's
expiry of ``gtd`` orders whose ``expire_at`` passed. Each in its own transaction: the trader's
balance rows, then the order row (the global lock order, as the trigger engine's fill takes them),
re-checked ``new`` under that lock, so a cancel racing a fill has exactly one outcome and the hold
is released exactly once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.utils import timezone

from accounts.models import User
from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock
from trading.errors import OrderNotCancelable, OrderNotFound
from trading.models import Order, OrderStatus, TimeInForce
from trading.services.command import command_atomic
from trading.services.order_outcomes import order_finish


def _end(order_id: UUID, *, to: str, reason: str, user: User | None = None) -> Order | None:
    """End the order ``order_id`` (``to``: canceled or expired); ``None`` when it is not open any
    more (a fill or another end won). ``user``: only that trader's order (else 404)."""
    found = Order.objects.filter(pk=order_id, **({"user": user} if user is not None else {})).first()
    if found is None:
        raise OrderNotFound(extra={"order_id": str(order_id)})
    account = LedgerAccount.objects.get(user_id=found.user_id)
    with command_atomic():
        assets = sorted({Asset.USD, found.held_asset or Asset.USD})
        balance_lock(keys=[(account, asset, 0) for asset in assets])
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        if order.status != OrderStatus.NEW:
            return None
        order_finish(order, to=to, account=account, reason=reason)
    return order


def order_cancel(*, user: User, order_id: UUID) -> Order:
    """Cancel one of ``user``'s open orders: 404 ``not_found`` for anyone else's, 409
    ``not_cancelable`` once it is filled, canceled or expired."""
    order = _end(order_id, to=OrderStatus.CANCELED, reason="canceled by the trader", user=user)
    if order is None:
        status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
        raise OrderNotCancelable(extra={"order_id": str(order_id), "status": status})
    return order


def order_cancel_by_ops(*, order_id: UUID) -> Order | None:
    """Ops cancel any trader's open order (the admin's action); ``None`` when it is not open."""
    return _end(order_id, to=OrderStatus.CANCELED, reason="canceled by operations")


def order_cancel_all(*, user: User, symbol: str | None = None) -> list[Order]:
    """Cancel every open order of ``user`` (on ``symbol`` only, if given); answers those canceled
    (an order a fill took meanwhile is left out)."""
    open_orders = Order.objects.filter(user=user, status=OrderStatus.NEW)
    if symbol:
        open_orders = open_orders.filter(symbol=symbol)
    ids = list(open_orders.order_by("created_at").values_list("id", flat=True))
    ended = (_end(order_id, to=OrderStatus.CANCELED, reason="canceled by the trader", user=user) for order_id in ids)
    return [order for order in ended if order is not None]


def orders_expire_due(*, now: datetime | None = None) -> int:
    """Expire every ``gtd`` order whose ``expire_at`` passed (the sweep); answers how many."""
    now = now or timezone.now()
    due = Order.objects.filter(status=OrderStatus.NEW, time_in_force=TimeInForce.GTD, expire_at__lte=now)
    ids = list(due.order_by("expire_at").values_list("id", flat=True)[:1000])
    return sum(1 for order_id in ids if _end(order_id, to=OrderStatus.EXPIRED, reason="expired") is not None)
