"""Replace a resting order (``PATCH /api/v1/orders/{id}``): a command under the new order's
``client_order_id`` (``trading.services.command``), so a retry replays the same new order.

The old order's terms merged with the changes (``qty``, ``limit_price``, ``stop_price``,
``expire_at``) are checked like a new order's -- lot, tick, band, a stop's side of the market,
post-only -- and prepared without a lock. Then, in one transaction, after the trader's balance
rows: the old order's row is locked and re-checked open (and, for a stop, not triggered
meanwhile: else 409 ``not_replaceable``, nothing written); its hold is released, it becomes
``replaced``, and the new order (``replaces`` = the old one) is born as a placement would be --
resting with its own hold, or filled at once when a limit became marketable within its limit. A
new hold the free funds cannot cover rejects the replace (422 ``insufficient_funds``, stored for
the id) and leaves the old order as it was. Events: the new order's, then ``order_replaced``
(the old order, ``replaced_by``). A retry under the same id replays the new order when it asks
the same changes of the same order, else 422 ``idempotency_key_reused``.
"""

from __future__ import annotations

from dataclasses import replace as with_changes
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.utils import timezone

from accounts.models import User
from pricing.markets import market_for_trading
from pricing.models import MarketKind
from realtime.publish import user_events_emit_many
from trading.errors import IdempotencyKeyReused, OrderNotFound, OrderNotReplaceable, OrderRuleViolation
from trading.models import Order, OrderStatus, OrderType
from trading.services.command import Books, Command, Locked, Prepared, command_run
from trading.services.limit_orders import LimitTerms, limit_prepare, limit_write
from trading.services.order_states import hold_release, order_event_data, order_transition
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder
from trading.services.resting import locked_advance
from trading.services.spot_fill import release_legs
from trading.services.stop_orders import StopTerms, stop_prepare, stop_write

Terms = LimitTerms | StopTerms


def order_replace(
    *,
    user: User,
    order_id: UUID,
    client_order_id: str,
    qty: Decimal | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    expire_at: datetime | None = None,
) -> PlacedOrder:
    """Replace ``user``'s open order ``order_id`` by a new one with the changes (see above)."""
    old = Order.objects.filter(pk=order_id, user=user).first()
    if old is None:
        raise OrderNotFound(extra={"order_id": str(order_id)})
    changes = {"qty": qty, "limit_price": limit_price, "stop_price": stop_price, "expire_at": expire_at}
    changes = {name: value for name, value in changes.items() if value is not None}
    done = Order.objects.filter(user=user, client_order_id=client_order_id, replaces=old).first()
    if done is not None:  # a retry of the replace that made it: replayed when it asks the same
        if done.request_hash != _terms(old, changes, still_open=False).digest(replaces=str(old.id)):
            raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
        return PlacedOrder(done, True)
    terms = _terms(old, changes)
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id,
                      digest=terms.digest(replaces=str(old.id)))  # fmt: skip
    terms.check_ticks()  # 422 price_off_tick, nothing stored

    def prepare(_books: Books) -> Prepared:
        return stop_prepare(terms) if isinstance(terms, StopTerms) else limit_prepare(terms)

    def write(books: Books, prepared: Prepared, locked: Locked) -> Order:
        locked_old = Order.objects.select_for_update(of=("self",)).get(pk=old.pk)
        if locked_old.status != OrderStatus.NEW or locked_old.triggered_at != old.triggered_at:
            raise _not_replaceable(locked_old)
        legs = release_legs(account=books.account, asset=locked_old.held_asset, amount=locked_old.held)
        hold_release(locked_old, account=books.account, reason="replaced")
        locked_advance(locked, legs)
        order_transition(locked_old, OrderStatus.REPLACED, now=timezone.now())
        locked_old.save(update_fields=["status", "held", "closed_at"])
        if isinstance(terms, StopTerms):
            new = stop_write(command, books=books, prepared=prepared, locked=locked, terms=terms, replaces=locked_old)
        else:
            new = limit_write(command, books=books, prepared=prepared, locked=locked, terms=terms, replaces=locked_old)
        data = order_event_data(locked_old, replaced_by=str(new.id))
        user_events_emit_many([(user.pk, "order_replaced", data)])
        return new

    order, replayed = command_run(command, prepare=prepare, write=write)
    return PlacedOrder(order, replayed)


def _not_replaceable(order: Order) -> OrderNotReplaceable:
    return OrderNotReplaceable(extra={"order_id": str(order.id), "status": order.status})


def _terms(old: Order, changes: dict, *, still_open: bool = True) -> Terms:
    """The new order's terms: the old one's with ``changes``; 409 when it is final (unless
    ``still_open`` is off: a retry's terms, to compare with what the first run stored), 422 for a
    change its type does not take."""
    if still_open and old.status != OrderStatus.NEW:
        raise _not_replaceable(old)
    if old.leverage is not None:
        raise _refused("replace_unsupported", "A position's limit entry is canceled and placed again, not replaced.")
    market = market_for_trading(old.symbol, kind=MarketKind.SPOT, opening=still_open and old.side == "buy")
    waiting_stop = old.stop_price is not None and old.triggered_at is None
    takes = {"qty", "expire_at"} | ({"limit_price"} if old.limit_price is not None else set())
    takes |= {"stop_price"} if waiting_stop else set()
    for name in changes:
        if name not in takes:
            raise _refused("not_allowed_for_type", f"This {old.type} order has no {name} to change.", field=name)
    if "expire_at" in changes and old.time_in_force != "gtd":
        raise _refused("not_allowed_for_tif", "expire_at goes with time_in_force gtd only.", field="expire_at")
    assert old.qty is not None
    if waiting_stop:
        assert old.stop_price is not None
        base = StopTerms(market, old.type, old.side, old.qty, old.stop_price, old.limit_price, old.time_in_force,
                         old.expire_at)  # fmt: skip
        return with_changes(base, **changes)
    assert old.limit_price is not None
    limit = LimitTerms(
        market, old.side, old.qty, old.limit_price, old.time_in_force, old.expire_at, old.post_only,
        type=old.type if old.type == OrderType.STOP_LIMIT else OrderType.LIMIT, stop_price=old.stop_price,
        triggered_at=old.triggered_at,
    )  # fmt: skip
    return with_changes(limit, **changes)


def _refused(code: str, message: str, **extra: str) -> OrderRuleViolation:
    return OrderRuleViolation(message, code=code, extra=extra)
