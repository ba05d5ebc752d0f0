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
(the old order, ``replaced_by``). A position's limit entry (``leverage`` set) is replaced the same
way with its own terms (``trading.services.entry_replace``). A retry under the same id replays
the new order when it asks the same changes of the same order, else 422
``idempotency_key_reused``.
"""

from __future__ import annotations

from dataclasses import replace as with_changes
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from accounts.models import User
from pricing.markets import market_for_trading
from pricing.models import MarketKind
from realtime.publish import user_events_emit_many
from trading.errors import OrderNotFound
from trading.models import Order, OrderStatus, OrderType
from trading.services.command import Books, Command, Locked, Prepared, command_run
from trading.services.entry_replace import entry_replace
from trading.services.limit_orders import LimitTerms, limit_prepare, limit_write
from trading.services.order_states import order_event_data
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder
from trading.services.replace_steps import not_replaceable, old_order_replace, replace_done, replace_refused
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
    if old.leverage is not None:  # a position's limit entry
        return entry_replace(user=user, old=old, client_order_id=client_order_id, changes=changes)

    def retry_digest() -> str:
        return _terms(old, changes, still_open=False).digest(replaces=str(old.id))

    if (done := replace_done(user=user, old=old, client_order_id=client_order_id, digest=retry_digest)) is not None:
        return PlacedOrder(done, True)  # a retry of the replace that made it, asking the same
    terms = _terms(old, changes)
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id,
                      digest=terms.digest(replaces=str(old.id)))  # fmt: skip
    terms.check_ticks()  # 422 price_off_tick, nothing stored

    def prepare(_books: Books) -> Prepared:
        return stop_prepare(terms) if isinstance(terms, StopTerms) else limit_prepare(terms)

    def write(books: Books, prepared: Prepared, locked: Locked) -> Order:
        locked_old = old_order_replace(old, books=books, locked=locked)
        if isinstance(terms, StopTerms):
            new = stop_write(command, books=books, prepared=prepared, locked=locked, terms=terms, replaces=locked_old)
        else:
            new = limit_write(command, books=books, prepared=prepared, locked=locked, terms=terms, replaces=locked_old)
        data = order_event_data(locked_old, replaced_by=str(new.id))
        user_events_emit_many([(user.pk, "order_replaced", data)])
        return new

    order, replayed = command_run(command, prepare=prepare, write=write)
    return PlacedOrder(order, replayed)


def _terms(old: Order, changes: dict, *, still_open: bool = True) -> Terms:
    """The new order's terms: the old one's with ``changes``; 409 when it is final (unless
    ``still_open`` is off: a retry's terms, to compare with what the first run stored), 422 for a
    change its type does not take."""
    if still_open and old.status != OrderStatus.NEW:
        raise not_replaceable(old)
    market = market_for_trading(old.symbol, kind=MarketKind.SPOT, opening=still_open and old.side == "buy")
    waiting_stop = old.stop_price is not None and old.triggered_at is None
    takes = {"qty", "expire_at"} | ({"limit_price"} if old.limit_price is not None else set())
    takes |= {"stop_price"} if waiting_stop else set()
    for name in changes:
        if name not in takes:
            raise replace_refused("not_allowed_for_type", f"This {old.type} order has no {name} to change.", field=name)
    if "expire_at" in changes and old.time_in_force != "gtd":
        raise replace_refused("not_allowed_for_tif", "expire_at goes with time_in_force gtd only.", field="expire_at")
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
