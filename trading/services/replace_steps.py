"""The steps a replace shares, whatever the order (a spot order's, ``order_replace``; a position's
limit entry's, ``entry_replace``): the refusals, and ending the old order inside the replace's
transaction -- locked, re-checked, its hold released, ``replaced``."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from accounts.models import User
from trading.errors import IdempotencyKeyReused, OrderNotReplaceable, OrderRuleViolation
from trading.models import Order, OrderStatus
from trading.services.command import Books, Locked
from trading.services.order_states import hold_release, order_transition
from trading.services.resting import locked_advance
from trading.services.spot_fill import release_legs


def not_replaceable(order: Order) -> OrderNotReplaceable:
    return OrderNotReplaceable(extra={"order_id": str(order.id), "status": order.status})


def replace_refused(code: str, message: str, **extra: str) -> OrderRuleViolation:
    return OrderRuleViolation(message, code=code, extra=extra)


def replace_done(*, user: User, old: Order, client_order_id: str, digest: Callable[[], str]) -> Order | None:
    """The new order a replace of ``old`` under ``client_order_id`` already made (a retry: it is
    replayed), or None; 422 ``idempotency_key_reused`` when the retry asks something else
    (``digest``: the retry's own, computed only when there is something to compare with)."""
    done = Order.objects.filter(user=user, client_order_id=client_order_id, replaces=old).first()
    if done is not None and done.request_hash != digest():
        raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
    return done


def old_order_replace(old: Order, *, books: Books, locked: Locked) -> Order:
    """Lock ``old`` (after the trader's balance rows), re-check it is still open and, for a stop,
    not triggered since it was read (else 409 ``not_replaceable``); release its hold (``locked``
    brought past it) and make it ``replaced``. Answers the locked row."""
    locked_old = Order.objects.select_for_update(of=("self",)).get(pk=old.pk)
    if locked_old.status != OrderStatus.NEW or locked_old.triggered_at != old.triggered_at:
        raise not_replaceable(locked_old)
    legs = release_legs(account=books.account, asset=locked_old.held_asset, amount=locked_old.held)
    hold_release(locked_old, account=books.account, reason="replaced")
    locked_advance(locked, legs)
    order_transition(locked_old, OrderStatus.REPLACED, now=timezone.now())
    locked_old.save(update_fields=["status", "held", "closed_at"])
    return locked_old
