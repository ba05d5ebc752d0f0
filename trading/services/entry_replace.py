"""Replace a position's resting limit entry (``PATCH /api/v1/orders/{id}`` on an order with
``leverage``): the spot replace's steps (``trading.services.order_replace``) with the entry's
terms -- ``qty``, ``limit_price`` and, for ``gtd``, ``expire_at`` change; the side, leverage and
market stay. The new terms are checked like a new entry's (tick, band, leverage, lot); then in
one transaction, after the trader's USD row: the old entry locked and re-checked open, its
margin-and-fee hold released, ``replaced``; the new entry born resting with its own hold, or
filled at once as the taker when it became marketable within its limit. A refusal (409
``not_replaceable``, 422 ``insufficient_funds`` and the others) leaves the old entry as it was;
a retry under the same id replays the new entry.
"""

from __future__ import annotations

from dataclasses import replace as with_changes
from typing import Any

from accounts.models import User
from pricing.markets import market_for_trading
from pricing.models import MarketKind
from realtime.publish import user_events_emit_many
from trading.models import Order, OrderStatus
from trading.perp_entries import EntryPlan, position_side
from trading.perp_markets import check_price_on_tick
from trading.services.command import Books, Command, Locked, Prepared, command_run
from trading.services.order_states import order_event_data
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder
from trading.services.position_entries import EntryTerms, entry_write
from trading.services.replace_steps import not_replaceable, old_order_replace, replace_done, replace_refused

CHANGES = frozenset({"qty", "limit_price", "expire_at"})


def entry_replace(*, user: User, old: Order, client_order_id: str, changes: dict[str, Any]) -> PlacedOrder:
    """Replace ``user``'s open limit entry ``old`` by one with ``changes`` (see above)."""

    def retry_digest() -> str:
        return _terms(old, changes, still_open=False).digest(replaces=str(old.id))

    if (done := replace_done(user=user, old=old, client_order_id=client_order_id, digest=retry_digest)) is not None:
        return PlacedOrder(done, True)  # a retry of the replace that made it, asking the same
    terms = _terms(old, changes)
    check_price_on_tick(terms.limit_price, terms.market, field="limit_price")
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id,
                      digest=terms.digest(replaces=str(old.id)))  # fmt: skip

    def write(books: Books, prepared: Prepared[EntryPlan], locked: Locked) -> Order:
        locked_old = old_order_replace(old, books=books, locked=locked)
        new = entry_write(command, terms, books=books, prepared=prepared, locked=locked, replaces=locked_old)
        user_events_emit_many([(user.pk, "order_replaced", order_event_data(locked_old, replaced_by=str(new.id)))])
        return new

    order, replayed = command_run(command, prepare=terms.prepare, write=write)
    return PlacedOrder(order, replayed)


def _terms(old: Order, changes: dict[str, Any], *, still_open: bool = True) -> EntryTerms:
    """The new entry's terms: the old one's with ``changes``; 409 when it is final (unless
    ``still_open`` is off: a retry's terms), 422 for a change an entry does not take."""
    if still_open and old.status != OrderStatus.NEW:
        raise not_replaceable(old)
    for name in changes:
        if name not in CHANGES:
            raise replace_refused("not_allowed_for_type", f"A limit entry has no {name} to change.", field=name)
    if "expire_at" in changes and old.time_in_force != "gtd":
        raise replace_refused("not_allowed_for_tif", "expire_at goes with time_in_force gtd only.", field="expire_at")
    assert old.limit_price is not None and old.qty is not None and old.leverage is not None
    market = market_for_trading(old.symbol, kind=MarketKind.PERP, opening=still_open)
    base = EntryTerms(market, position_side(old.side), old.leverage, old.limit_price, None, old.qty,
                      old.time_in_force, old.expire_at)  # fmt: skip
    return with_changes(base, **changes)
