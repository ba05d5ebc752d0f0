"""What every order that does not fill on arrival shares (limits, stops, stop-limits, and the new
side of a replace): the open-orders cap, and the birth of the order row -- resting with its hold
(``new``: free -> locked in one ``hold`` ledger transaction, ``order_accepted`` +
``portfolio_update``) or, for an ``ioc``/``fok`` limit that could not fill, born ``canceled``.
Inside the command's transaction, after the trader's balance rows are locked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from portfolio.events import portfolio_update_data
from portfolio.models import Bucket, LedgerReason
from portfolio.services import Leg, ledger_post
from pricing.markets import MarketSpec
from pricing.selectors import PriceQuote
from realtime.publish import user_events_emit_many
from trading.errors import OrderRuleViolation
from trading.limits import Hold
from trading.models import Order, OrderStatus, TimeInForce
from trading.services.command import Books, Command, Locked, Rejected
from trading.services.order_states import order_event_data
from trading.services.spot_fill import balances_after

RESTING_TIFS = (TimeInForce.GTC, TimeInForce.GTD)


@dataclass(frozen=True)
class Birth:
    """The order as it is born: its market, type, side, size, own fields and what it holds."""

    market: MarketSpec
    type: str
    side: str
    qty: Decimal
    hold: Hold
    fields: dict[str, Any]  # limit_price, stop_price, time_in_force, expire_at, post_only, triggered_at…


def locked_advance(locked: Locked, legs: list[Leg]) -> None:
    """Bring the command's locked balance rows (in memory) past ``legs`` it just posted (a
    replace's release before the new order's hold or fill), so the events' balances stay exact."""
    for row in balances_after(locked, legs):
        for key, held in locked.items():
            if (key[0], key[1]) == (row.account_id, row.asset):
                held.total, held.locked = row.total, row.locked


def open_orders_check(user: User) -> None:
    """422 ``too_many_open_orders`` at ``TRADING_MAX_OPEN_ORDERS`` open orders (the caller's
    transaction rolls back; the rejection is stored for the id)."""
    limit = settings.TRADING_MAX_OPEN_ORDERS
    if Order.objects.filter(user=user, status=OrderStatus.NEW).count() >= limit:
        raise Rejected(
            OrderRuleViolation(
                f"At most {limit} open orders per trader; cancel some first.",
                code="too_many_open_orders",
                extra={"max_open_orders": limit},
            )
        )


def order_born(
    command: Command[Order],
    *,
    books: Books,
    quote: PriceQuote,
    locked: Locked,
    birth: Birth,
    reason: str = "",
    replaces: Order | None = None,
    rests: bool | None = None,
) -> Order:
    """The order row, resting with its hold when it ``rests`` (default: when its time in force
    does; a stop always does) and the cap allows, else born ``canceled`` with ``reason``, nothing
    held."""
    now = timezone.now()
    resting = birth.fields["time_in_force"] in RESTING_TIFS if rests is None else rests
    if resting:
        open_orders_check(command.user)
    hold = birth.hold
    order = Order.objects.create(
        user=command.user, client_order_id=command.client_order_id, symbol=birth.market.symbol, side=birth.side,
        type=birth.type, qty=birth.qty, status=OrderStatus.NEW if resting else OrderStatus.CANCELED,
        index_price=quote.price, price_source=quote.source_label, epoch=books.account.epoch,
        request_hash=command.digest, created_at=now, closed_at=None if resting else now,
        held_asset=hold.asset if resting else "", held=hold.amount if resting else Decimal(0), replaces=replaces,
        **birth.fields,
    )  # fmt: skip
    user_id = command.user.pk
    if not resting:
        user_events_emit_many([(user_id, "order_canceled", order_event_data(order, reason=reason))])
        return order
    legs = [Leg(books.account, hold.asset, -hold.amount), Leg(books.account, hold.asset, hold.amount, Bucket.LOCKED)]
    price = birth.fields.get("limit_price") or birth.fields.get("stop_price")
    ledger_post(
        reason=LedgerReason.HOLD, legs=legs, reference_type="order", reference_id=str(order.id),
        memo=f"hold: {birth.type} {birth.side} {birth.qty} {birth.market.symbol} @ {price}", shard_key=user_id,
    )  # fmt: skip
    portfolio = portfolio_update_data(books.account, balances=balances_after(locked, legs))
    user_events_emit_many(
        [(user_id, "order_accepted", order_event_data(order)), (user_id, "portfolio_update", portfolio)]
    )
    return order
