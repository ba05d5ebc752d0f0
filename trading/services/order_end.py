"""Ending a resting order without a fill: the trader's cancel (one, or all open), and the sweep's
expiry of ``gtd`` orders whose ``expire_at`` passed. Each in its own transaction: the trader's
balance rows, then the order row (the global lock order, as the trigger engine's fill takes them),
re-checked ``new`` under that lock, so a cancel racing a fill has exactly one outcome and the hold
is released exactly once.

Lean on purpose (a trader's cancel is the hottest command after a market order): before any lock
one statement reads the order with its trader's ledger account (an order already final answers
at once: a final status never changes); in the transaction the balance rows are locked, then ONE
conditional ``UPDATE`` locks the order row, re-checks it is still ``new`` and as read, and ends it
(the trigger engine's claim); the release is one ledger transaction, posted to the rows already
locked (not locked and read again); both events are stored in one batch, the ``portfolio_update``
built from the locked rows plus the release's legs (no re-read). Eleven statements with BEGIN and
COMMIT (``tests/trading/test_order_cancel_lean.py``); the read and the claim are plain statements
(``trading.order_end_pg``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.utils import timezone

from accounts.models import User
from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock
from trading.errors import OrderNotCancelable, OrderNotFound
from trading.models import Order, OrderStatus, TimeInForce
from trading.order_end_pg import Was, order_end_statements
from trading.services.command import command_atomic
from trading.services.order_outcomes import order_ended, order_finish
from trading.services.order_states import order_transition


def _order_read(order_id: UUID, user: User | None) -> tuple[Order, LedgerAccount]:
    """The order ``order_id`` (``user``'s only, when given: else 404) and its trader's account."""
    found = order_end_statements().read(order_id, None if user is None else user.pk)
    if found is None:
        raise OrderNotFound(extra={"order_id": str(order_id)})
    return found


def _claim(order: Order, *, to: str, now: datetime) -> bool:
    """Lock the order's row, re-check it is still open and as read (its hold, a stop-limit's
    trigger), and end it: one ``UPDATE``. ``False`` when anything else came first (a fill, an
    other end, a trigger: the caller then re-reads the row under its lock)."""
    was = Was(order.status, order.held, order.triggered_at)
    order_transition(order, to, now=now)
    return order_end_statements().claim(order.pk, was=was, to=order.status, closed_at=order.closed_at)


def _end(order_id: UUID, *, to: str, reason: str, user: User | None = None) -> tuple[Order, bool]:
    """End the order ``order_id`` (``to``: canceled or expired); answers the order and whether this
    call ended it (``False``: it was final already, or a fill or another end won). ``user``: only
    that trader's order (else 404)."""
    order, account = _order_read(order_id, user)
    if order.status != OrderStatus.NEW:
        return order, False
    with command_atomic():
        assets = sorted({Asset.USD, order.held_asset or Asset.USD})
        locked = balance_lock(keys=[(account, asset, 0) for asset in assets])
        if _claim(order, to=to, now=timezone.now()):
            order_ended(order, to=to, account=account, reason=reason, locked=locked)
            return order, True
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)  # the row as it is now
        if order.status != OrderStatus.NEW:
            return order, False
        order_finish(order, to=to, account=account, reason=reason, locked=locked)  # a stop-limit triggered meanwhile
    return order, True


def order_cancel(*, user: User, order_id: UUID) -> Order:
    """Cancel one of ``user``'s open orders: 404 ``not_found`` for anyone else's, 409
    ``not_cancelable`` once it is filled, canceled or expired."""
    order, ended = _end(order_id, to=OrderStatus.CANCELED, reason="canceled by the trader", user=user)
    if not ended:
        raise OrderNotCancelable(extra={"order_id": str(order_id), "status": order.status})
    return order


def order_cancel_by_ops(*, order_id: UUID) -> Order | None:
    """Ops cancel any trader's open order (the admin's action); ``None`` when it is not open."""
    order, ended = _end(order_id, to=OrderStatus.CANCELED, reason="canceled by operations")
    return order if ended else None


def order_cancel_all(*, user: User, symbol: str | None = None, symbols: Sequence[str] | None = None) -> list[Order]:
    """Cancel every open order of ``user`` (on ``symbol`` only, or any of ``symbols``, if given);
    answers those canceled (an order a fill took meanwhile is left out)."""
    open_orders = Order.objects.filter(user=user, status=OrderStatus.NEW)
    if symbol:
        open_orders = open_orders.filter(symbol=symbol)
    if symbols is not None:
        open_orders = open_orders.filter(symbol__in=list(symbols))
    ids = list(open_orders.order_by("created_at").values_list("id", flat=True))
    ended = (_end(order_id, to=OrderStatus.CANCELED, reason="canceled by the trader", user=user) for order_id in ids)
    return [order for order, done in ended if done]


def orders_expire_due(*, now: datetime | None = None) -> int:
    """Expire every ``gtd`` order whose ``expire_at`` passed (the sweep); answers how many."""
    now = now or timezone.now()
    due = Order.objects.filter(status=OrderStatus.NEW, time_in_force=TimeInForce.GTD, expire_at__lte=now)
    ids = list(due.order_by("expire_at").values_list("id", flat=True)[:1000])
    return sum(1 for order_id in ids if _end(order_id, to=OrderStatus.EXPIRED, reason="expired")[1])
