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
COMMIT (``tests/trading/test_order_cancel_lean.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.db import connection
from django.utils import timezone

from accounts.models import User
from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock
from trading.errors import OrderNotCancelable, OrderNotFound
from trading.models import Order, OrderStatus, TimeInForce
from trading.services.command import command_atomic
from trading.services.order_outcomes import order_ended, order_finish
from trading.services.order_states import order_transition

# The order's row with its trader's ledger account (id, epoch): one statement, by primary key.
_ORDER_WITH_ACCOUNT = (
    f"SELECT o.*, a.id AS ledger_account_id, a.epoch AS ledger_epoch FROM {Order._meta.db_table} o "
    f"JOIN {LedgerAccount._meta.db_table} a ON a.user_id = o.user_id WHERE o.id = %s"
)


def _order_read(order_id: UUID, user: User | None) -> tuple[Order, LedgerAccount]:
    """The order ``order_id`` (``user``'s only, when given: else 404) and its trader's account."""
    sql, params = _ORDER_WITH_ACCOUNT, [Order._meta.pk.get_db_prep_value(order_id, connection)]
    if user is not None:
        sql, params = f"{sql} AND o.user_id = %s", [*params, user.pk]
    found = list(Order.objects.raw(sql, params))
    if not found:
        raise OrderNotFound(extra={"order_id": str(order_id)})
    order = found[0]
    columns = vars(order)  # the two account columns ride on the order's row
    account = LedgerAccount(
        pk=columns["ledger_account_id"],
        kind=LedgerAccount.Kind.USER,
        user_id=order.user_id,
        epoch=columns["ledger_epoch"],
    )
    return order, account


def _claim(order: Order, *, to: str, now: datetime) -> bool:
    """Lock the order's row, re-check it is still open and as read (its hold, a stop-limit's
    trigger), and end it: one ``UPDATE``. ``False`` when anything else came first (a fill, an
    other end, a trigger: the caller then re-reads the row under its lock)."""
    read_status, held, triggered_at = order.status, order.held, order.triggered_at
    order_transition(order, to, now=now)
    claimed = Order.objects.filter(pk=order.pk, status=read_status, held=held, triggered_at=triggered_at).update(
        status=order.status, closed_at=order.closed_at, held=0
    )
    return claimed == 1


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
