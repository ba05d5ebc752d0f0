"""Reads of orders and fills, always scoped to one user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from trading.models import Fill, Order

if TYPE_CHECKING:
    from accounts.models import User


def order_list(
    *,
    user: User,
    status: str | None = None,
    side: str | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
    client_order_id: str | None = None,
    symbol: str | None = None,
    statuses: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
) -> QuerySet[Order]:
    """``user``'s orders, filtered; ``statuses`` / ``symbols``: any of them (Alpaca's open / closed)."""
    qs = Order.objects.filter(user=user)
    if symbol:
        qs = qs.filter(symbol=symbol)
    if symbols is not None:
        qs = qs.filter(symbol__in=list(symbols))
    if status:
        qs = qs.filter(status=status)
    if statuses is not None:
        qs = qs.filter(status__in=list(statuses))
    if side:
        qs = qs.filter(side=side)
    if after:
        qs = qs.filter(created_at__gt=after)
    if until:
        qs = qs.filter(created_at__lte=until)
    if client_order_id:
        qs = qs.filter(client_order_id=client_order_id)
    return qs


def order_get(*, user: User, order_id: UUID) -> Order:
    order = Order.objects.filter(user=user, pk=order_id).first()
    if order is None:
        raise Http404("order not found")
    return order


def fill_list(
    *,
    user: User,
    side: str | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
    order_id: UUID | None = None,
) -> QuerySet[Fill]:
    qs = Fill.objects.filter(user=user)
    if side:
        qs = qs.filter(side=side)
    if after:
        qs = qs.filter(created_at__gt=after)
    if until:
        qs = qs.filter(created_at__lte=until)
    if order_id:
        qs = qs.filter(order_id=order_id)
    return qs
