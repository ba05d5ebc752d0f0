"""What a position command writes inside its transaction, step by step (docs/positions.md).

``net_order_write`` applies an order by side to the trader's net position on a market: a position
the index has crossed is first settled as its liquidation; then the order opens, increases,
reduces, closes or flips the position. ``close_write`` closes all or a lot of one position (or
settles it as its liquidation when crossed). Both return a ``Step``; ``step_record`` stores it as
the command's ``PositionOrder`` and queues its events. Called only by ``trading.services.positions``
inside ``command_run``'s transaction, after the trader's USD balance row is locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.conf import settings

from accounts.models import User
from core.money import dec_str
from pricing.markets import MarketHalted
from pricing.selectors import PriceQuote
from trading.errors import CloseLeavesDust, CloseQtyTooLarge, PositionNotOpen, SlippageExceeded
from trading.events import portfolio_update_emit, position_update_emit
from trading.execution import RuleViolation
from trading.margin import (
    ClosePlan,
    OpenPlan,
    PerpRules,
    is_crossed,
    plan_close,
    plan_close_at,
    plan_open_at,
    taker_side,
)
from trading.models import Position, PositionEvent, PositionOrder, PositionOrderAction, PositionStatus
from trading.netting import net_split, plan_increase
from trading.services.command import Books, Command, Prepared, Rejected
from trading.services.orders import slippage_model
from trading.services.position_book import (
    open_position_lock,
    position_create,
    position_increase,
    position_liquidate_locked,
    position_lock,
    position_reduce,
)
from trading.tpsl import Trigger, TriggerGone, check_stop_vs_liquidation, check_tpsl, fires

PERCENT = Decimal(100)
_REASONS: dict[str, str] = {
    PositionOrderAction.OPEN: "opened",
    PositionOrderAction.INCREASE: "increased",
    PositionOrderAction.REDUCE: "reduced",
    PositionOrderAction.CLOSE: "closed",
    PositionOrderAction.FLIP: "flipped",
}


@dataclass(frozen=True)
class Tolerance:
    """The seed's ``currentPrice`` + ``slippage`` (percent): the worst fill the client accepts."""

    reference: Decimal | None = None
    pct: Decimal | None = None

    def check(self, *, buys: bool, fill: Decimal) -> None:
        if self.reference is None or self.pct is None:
            return
        shift = 1 + self.pct / PERCENT if buys else 1 - self.pct / PERCENT
        limit = self.reference * shift
        if (buys and fill > limit) or (not buys and fill < limit):
            raise SlippageExceeded(
                extra={"current_price": str(self.reference), "slippage_pct": str(self.pct), "fill_price": str(fill)}
            )


@dataclass(frozen=True)
class Step:
    """What one command did to a position: the fill it records and the position's event."""

    action: str
    position: Position
    event: PositionEvent
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized: Decimal = Decimal(0)


def net_order_write(
    command: Command[PositionOrder], books: Books, prepared: Prepared[OpenPlan], *, symbol: str, rules: PerpRules,
    halted: bool = False,
) -> Step:  # fmt: skip
    """An order of ``plan.side`` on the trader's net position on ``symbol``. On a ``halted``
    market only what reduces or closes goes through (422 ``market_halted``, nothing written,
    for an open or an increase; a flip only closes)."""
    plan, quote = prepared.plan, prepared.quote
    current = open_position_lock(user=command.user, symbol=symbol)
    if current is not None and is_crossed(current.side, current.liquidation_price, quote.price):
        _liquidate(current, books, quote)
        current = None
    if halted and (current is None or current.side == plan.side):
        raise MarketHalted(extra={"symbol": symbol})  # a DomainError: rolled back, not stored
    if current is None:
        position, event = _create(command, books, prepared, symbol=symbol, rules=rules, plan=plan)
        return Step(PositionOrderAction.OPEN, position, event, plan.qty, plan.entry_price, plan.fee)
    if current.side == plan.side:
        grown = plan_increase(
            side=plan.side, entry=current.entry_price, qty=current.qty, margin=current.margin, mmr=current.mmr,
            add=plan, rules=rules,
        )  # fmt: skip
        event = position_increase(position=current, account=books.account, fees=books.fees, plan=plan, grown=grown)
        return Step(PositionOrderAction.INCREASE, current, event, plan.qty, plan.entry_price, plan.fee)
    return _reduce_or_flip(command, books, prepared, current, symbol=symbol, rules=rules, halted=halted)


def _reduce_or_flip(
    command: Command[PositionOrder], books: Books, prepared: Prepared[OpenPlan], current: Position, *,
    symbol: str, rules: PerpRules, halted: bool,
) -> Step:  # fmt: skip
    """An order against the position: it reduces or closes it, and what is left of the order
    (when the size rules allow it) opens a position on the order's side: a flip."""
    plan = prepared.plan
    close_qty, open_qty = net_split(position_qty=current.qty, order_qty=plan.qty, min_qty=rules.min_qty)
    closing = plan_close_at(
        side=current.side, entry=current.entry_price, qty=current.qty, margin=current.margin, close_qty=close_qty,
        index_price=plan.index_price, exit_price=plan.entry_price, fee_bps=rules.fee_bps,
    )  # fmt: skip
    event = position_reduce(position=current, account=books.account, house=books.house, fees=books.fees,
                            insurance=books.insurance, plan=closing, price_tick=rules.price_tick)  # fmt: skip
    action = PositionOrderAction.REDUCE if closing.remaining_qty else PositionOrderAction.CLOSE
    step = Step(action, current, event, close_qty, plan.entry_price, closing.fee, closing.realized_pnl)
    rest = None if halted else _flip_rest(plan=plan, qty=open_qty, rules=rules)
    if rest is None:
        return step
    position_update_emit(position=current, reason="closed")
    position, event = _create(command, books, prepared, symbol=symbol, rules=rules, plan=rest)
    return Step(PositionOrderAction.FLIP, position, event, close_qty + rest.qty, plan.entry_price,
                closing.fee + rest.fee, closing.realized_pnl)  # fmt: skip


def _flip_rest(*, plan: OpenPlan, qty: Decimal, rules: PerpRules) -> OpenPlan | None:
    """What a flipping order opens on its own side after closing the other, or ``None`` (nothing
    left, or less than the size rules allow: that rest is canceled)."""
    if qty <= 0:
        return None
    try:
        return plan_open_at(
            side=plan.side, index_price=plan.index_price, entry_price=plan.entry_price, qty=qty,
            leverage=plan.leverage, rules=rules,
        )  # fmt: skip
    except RuleViolation:
        return None


def _create(
    command: Command[PositionOrder], books: Books, prepared: Prepared[OpenPlan], *, symbol: str, rules: PerpRules,
    plan: OpenPlan,
) -> tuple[Position, PositionEvent]:  # fmt: skip
    return position_create(
        plan=plan, user=command.user, account=books.account, fees=books.fees, symbol=symbol, mmr=rules.mmr,
        source=prepared.quote.source_label, client_order_id=command.client_order_id, digest=command.digest,
    )  # fmt: skip


def _liquidate(position: Position, books: Books, quote: PriceQuote) -> PositionEvent:
    return position_liquidate_locked(
        position=position, account=books.account, quote=quote, house=books.house, insurance=books.insurance
    )


def close_write(
    books: Books, prepared: Prepared[None], *, position_id: UUID | str, qty: Decimal | None, rules: PerpRules,
    tolerance: Tolerance, trigger: Trigger | None = None,
) -> Step:  # fmt: skip
    """Close all (``qty=None``) or a lot of the position, at the index against the taker; a
    position that is no longer open is a stored 409; a crossed one is settled as its liquidation
    (no tolerance applies: the trader no longer chooses the price).

    ``trigger``: the position's take-profit or stop-loss fired at the tick ``prepared.quote``.
    Re-checked here under the row lock (``TriggerGone`` otherwise: nothing written or stored);
    it closes the whole position at market even past its liquidation price: the stop fires
    before the liquidation it protects against."""
    quote = prepared.quote
    position = position_lock(position_id=position_id)
    if trigger is not None:
        _trigger_check(position, trigger, price=quote.price)
    elif position.status != "open":
        raise Rejected(PositionNotOpen(extra={"position_id": str(position.id), "status": position.status}))
    elif is_crossed(position.side, position.liquidation_price, quote.price):
        event = _liquidate(position, books, quote)
        return Step(PositionOrderAction.LIQUIDATION, position, event, position.qty, quote.price, Decimal(0),
                    -position.margin)  # fmt: skip
    plan = _close_plan(position=position, qty=qty, quote=quote, rules=rules)
    tolerance.check(buys=taker_side(position.side, opening=False) == "buy", fill=plan.exit_price)
    event = position_reduce(
        position=position, account=books.account, house=books.house, fees=books.fees, insurance=books.insurance,
        plan=plan, price_tick=rules.price_tick, reason=trigger.kind if trigger else "",
        computed_at=quote.computed_at if trigger else None,
    )  # fmt: skip
    action = PositionOrderAction.CLOSE if plan.remaining_qty == 0 else PositionOrderAction.REDUCE
    return Step(action, position, event, plan.qty, plan.exit_price, plan.fee, plan.realized_pnl)


def _trigger_check(position: Position, trigger: Trigger, *, price: Decimal) -> None:
    """Still open, unchanged in size since before the tick, and its ``trigger.kind`` price still
    set and crossed at ``price``."""
    trigger_price = position.take_profit_price if trigger.kind == "take_profit" else position.stop_loss_price
    if (
        position.status != PositionStatus.OPEN
        or position.updated_at > trigger.computed_at
        or not fires(trigger.kind, side=position.side, trigger_price=trigger_price, price=price)
    ):
        raise TriggerGone(f"position {position.id}: its {trigger.kind} no longer fires at {price}")


def tpsl_apply(
    step: Step, *, side: str, index_price: Decimal, take_profit: Decimal | None, stop_loss: Decimal | None
) -> None:
    """After an order of ``side``: set the take-profit / stop-loss it carries on the position it
    leaves on its side (open, increase, flip), checked against the index and that position's
    liquidation price; and a stop-loss the position kept must stay above (long) / below (short)
    its new liquidation price. A ``RuleViolation`` rolls the whole order back (stored for its id)."""
    position = step.position
    ours = position.status == PositionStatus.OPEN and position.side == side
    if not ours:
        if take_profit is not None or stop_loss is not None:
            raise RuleViolation(
                "tpsl_on_reduce",
                "take_profit_price / stop_loss_price go with an order that leaves a position on its side; "
                "this one only reduces or closes the other side.",
            )
        return
    if take_profit is None and stop_loss is None and position.stop_loss_price is None:
        return
    check_tpsl(
        side=side, index_price=index_price, band_pct=settings.TRADING_PRICE_BAND_PCT, take_profit=take_profit,
        stop_loss=stop_loss, liquidation_price=position.liquidation_price,
    )  # fmt: skip
    if position.stop_loss_price is not None and stop_loss is None:  # kept through an increase
        check_stop_vs_liquidation(side=side, stop_loss=position.stop_loss_price,
                                  liquidation_price=position.liquidation_price)  # fmt: skip
    if take_profit is not None or stop_loss is not None:
        position.take_profit_price = take_profit if take_profit is not None else position.take_profit_price
        position.stop_loss_price = stop_loss if stop_loss is not None else position.stop_loss_price
        position.save(update_fields=["take_profit_price", "stop_loss_price"])


def _close_plan(*, position: Position, qty: Decimal | None, quote: PriceQuote, rules: PerpRules) -> ClosePlan:
    close_qty = position.qty if qty is None else qty
    sizes = {"qty": dec_str(close_qty), "position_qty": dec_str(position.qty)}
    if close_qty > position.qty:
        raise Rejected(CloseQtyTooLarge(extra=sizes))
    if 0 < position.qty - close_qty < rules.min_qty:
        raise Rejected(CloseLeavesDust(extra={**sizes, "min_qty": dec_str(rules.min_qty)}))
    return plan_close(
        side=position.side, entry=position.entry_price, qty=position.qty, margin=position.margin,
        close_qty=close_qty, index_price=quote.price, fee_bps=rules.fee_bps, model=slippage_model(),
        price_tick=rules.price_tick,
    )  # fmt: skip


def step_record(
    command: Command[PositionOrder], books: Books, step: Step, *, side: str, index_price: Decimal,
    created_by: User | None = None, reason: str | None = None,
) -> PositionOrder:  # fmt: skip
    """The command's ``PositionOrder`` (its idempotency record and fill), then, on commit, the
    position's update (a liquidation announced itself; ``reason`` overrides the action's, e.g.
    ``take_profit``) and the portfolio update. (The leaderboard follows the ledger on a timer:
    ``portfolio.leaderboard_changes``.)"""
    record = PositionOrder.objects.create(
        user=command.user, client_order_id=command.client_order_id, request_hash=command.digest,
        symbol=step.position.symbol, side=side, action=step.action, qty=step.qty, price=step.price,
        index_price=index_price, fee=step.fee, realized_pnl=step.realized, position=step.position, event=step.event,
        created_by=created_by,
    )  # fmt: skip
    reason = reason or _REASONS.get(step.action)
    if reason:
        position_update_emit(position=step.position, reason=reason)
    portfolio_update_emit(account=books.account)
    return record
