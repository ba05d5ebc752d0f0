"""How a resting order ends inside the caller's transaction (the trader's balance rows and the
order row locked, in that order): ``order_finish`` -- canceled, expired or rejected, its hold
released once, the event stored (``order_ended``: the same for a row its caller already ended,
the cancel's one-statement claim) -- and ``order_fill_at_once``, a triggered stop's taker fill on
the tick (its hold released in the fill's ledger transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from portfolio.events import portfolio_update_data
from portfolio.models import Asset, LedgerAccount
from portfolio.services import Leg
from pricing.markets import MarketSpec
from realtime.publish import user_events_emit_many
from trading.execution import Execution
from trading.models import Order, OrderStatus
from trading.services.command import Locked
from trading.services.order_states import hold_release, order_event_data, order_transition
from trading.services.spot_fill import balances_after, release_legs, spot_fill_write

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


def order_finish(
    order: Order, *, to: str, account: LedgerAccount, reason: str, code: str = "", locked: Locked | None = None
) -> None:
    """End the open ``order`` (``to``: canceled, expired or rejected; its row locked by the caller):
    release its hold, move it, save it, store its event (with ``reason``, and ``code`` for a
    rejection) and the trader's ``portfolio_update`` (from ``locked``, the caller's locked balance
    rows, when given; else re-read)."""
    order_transition(order, to, now=timezone.now())
    legs = _release(order, account=account, reason=reason, locked=locked)
    order.save(update_fields=["status", "held", "closed_at", "triggered_at"])
    _end_emit(order, to=to, account=account, reason=reason, code=code, locked=locked, legs=legs)


def order_ended(order: Order, *, to: str, account: LedgerAccount, reason: str, locked: Locked) -> None:
    """``order_finish`` of an order whose row the caller already ended (moved to ``to`` and its
    ``held`` zeroed, in one conditional ``UPDATE``; ``order`` still shows what it held): the
    release and the events."""
    legs = _release(order, account=account, reason=reason, locked=locked)
    _end_emit(order, to=to, account=account, reason=reason, code="", locked=locked, legs=legs)


def _release(order: Order, *, account: LedgerAccount, reason: str, locked: Locked | None) -> list[Leg]:
    """``hold_release`` (posting to the caller's ``locked`` rows as they are, when given: not
    locked and read again); answers its legs (none when nothing was held)."""
    legs = release_legs(account=account, asset=order.held_asset, amount=order.held) if order.held else []
    rows = None if locked is None else {key: (b.id, b.total, b.locked, b.allow_negative) for key, b in locked.items()}
    hold_release(order, account=account, reason=reason, locked=rows)
    return legs


def _end_emit(
    order: Order, *, to: str, account: LedgerAccount, reason: str, code: str, locked: Locked | None, legs: list[Leg]
) -> None:
    """The end's event and ``portfolio_update``, one batch. With ``locked``: the balance rows the
    release changed as it left them (the locked rows plus its legs; no book changed: ``holdings``
    empty), nothing re-read."""
    extra = {"reason": reason, **({"code": code} if code else {})}
    if locked is None:
        portfolio = portfolio_update_data(account)
    else:
        portfolio = portfolio_update_data(account, balances=balances_after(locked, legs), holdings=[])
    user_events_emit_many(
        [
            (order.user_id, END_EVENTS[to], order_event_data(order, **extra)),
            (order.user_id, "portfolio_update", portfolio),
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
