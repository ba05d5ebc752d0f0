"""How a resting order ends inside the caller's transaction (the trader's balance rows and the
order row locked, in that order): ``order_finish`` -- canceled, expired or rejected, its hold
released once, the event stored -- and ``order_fill_at_once``, a triggered stop's taker fill on
the tick (its hold released in the fill's ledger transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from portfolio.events import portfolio_update_data
from portfolio.models import Asset, LedgerAccount
from pricing.markets import MarketSpec
from realtime.publish import user_events_emit_many
from trading.execution import Execution
from trading.models import Order, OrderStatus
from trading.services.command import Locked
from trading.services.order_states import hold_release, order_event_data, order_transition
from trading.services.spot_fill import spot_fill_write

END_EVENTS: dict[str, str] = {
    OrderStatus.CANCELED: "order_canceled",
    OrderStatus.EXPIRED: "order_expired",
    OrderStatus.REJECTED: "order_rejected",
}


@dataclass(frozen=True)
class StopTick:
    """The tick a stop triggers on, and the system accounts its fill posts to."""

    index: Decimal
    bid: Decimal | None
    ask: Decimal | None
    house: LedgerAccount
    fees: LedgerAccount


def order_finish(order: Order, *, to: str, account: LedgerAccount, reason: str, code: str = "") -> None:
    """End the open ``order`` (``to``: canceled, expired or rejected): release its hold, move it,
    save it, store its event (with ``reason``, and ``code`` for a rejection) and the trader's
    ``portfolio_update``."""
    hold_release(order, account=account, reason=reason)
    order_transition(order, to, now=timezone.now())
    order.save(update_fields=["status", "held", "closed_at", "triggered_at"])
    extra = {"reason": reason, **({"code": code} if code else {})}
    user_events_emit_many(
        [
            (order.user_id, END_EVENTS[to], order_event_data(order, **extra)),
            (order.user_id, "portfolio_update", portfolio_update_data(account)),
        ]
    )


def order_triggered_emit(order: Order, *, reason: str) -> None:
    """A stop-limit whose stop triggered now rests as its limit: ``order_triggered``."""
    user_events_emit_many([(order.user_id, "order_triggered", order_event_data(order, reason=reason))])


def order_fill_at_once(
    order: Order, *, plan: Execution, tick: StopTick, market: MarketSpec, account: LedgerAccount, locked: Locked
) -> bool:
    """Fill the triggered ``order`` as ``plan`` says (the taker, on the tick), or reject it when a
    buy's cost is more than it held plus the trader's free USD (the market gapped past its stop):
    ``False``."""
    if plan.side == "buy":
        usd = next(row for (_a, asset, _s), row in locked.items() if asset == Asset.USD)
        held_usd = order.held if order.held_asset == Asset.USD else Decimal(0)
        if -plan.cash_delta > usd.free + held_usd:
            reason = "the market gapped past the stop: its cost is more than it held and the free USD"
            order_finish(order, to=OrderStatus.REJECTED, account=account, reason=reason, code="insufficient_funds")
            return False
    now, release = timezone.now(), order.held
    order_transition(order, OrderStatus.FILLED, now=now)
    order.filled_qty, order.filled_avg_price, order.fee = plan.qty, plan.price, plan.fee
    order.slippage_bps, order.index_price, order.held = plan.slippage_bps, tick.index, Decimal(0)
    order.save(
        update_fields=["status", "filled_at", "filled_qty", "filled_avg_price", "fee", "slippage_bps", "index_price",
                       "held", "triggered_at"]
    )  # fmt: skip
    spot_fill_write(
        order=order, plan=plan, account=account, house=tick.house, fees=tick.fees, asset=market.asset,
        locked=locked, now=now, liquidity="taker", release=release,
    )  # fmt: skip
    return True
