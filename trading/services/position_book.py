"""The steps a command takes on a position, inside its transaction, with the rows locked
(the trader's USD balance row, then the position row; the ledger locks the system shard rows
last). Each step posts one ledger transaction and writes one history row (``PositionEvent``);
the command that calls them records the order and announces the result.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.utils import timezone

from accounts.models import User
from portfolio.models import Asset, LedgerAccount, LedgerReason, LedgerTransaction
from portfolio.services import Leg, ledger_post
from pricing.selectors import PriceQuote
from realtime.publish import user_event_emit
from trading.events import position_liquidated_data
from trading.margin import ClosePlan, LiquidationPlan, OpenPlan, liquidation_price, plan_liquidation
from trading.models import POSITION_TRANSITIONS, Position, PositionEvent, PositionEventKind, PositionStatus
from trading.netting import IncreasePlan


def position_transition(position: Position, to: str) -> None:
    """The one place a position's status changes (``POSITION_TRANSITIONS``)."""
    if to not in POSITION_TRANSITIONS[position.status]:
        raise ValueError(f"position {position.id}: {position.status} -> {to} is not allowed")
    position.status = to


def open_position_lock(*, user: User, symbol: str) -> Position | None:
    """The user's open position on ``symbol``, row-locked (after the balance row: the lock order)."""
    return Position.objects.select_for_update(of=("self",)).filter(user=user, symbol=symbol, status="open").first()


def position_lock(*, position_id: UUID | str) -> Position:
    return Position.objects.select_for_update(of=("self",)).get(pk=position_id)


def liquidation_legs(
    *, account: LedgerAccount, house: LedgerAccount, insurance: LedgerAccount, plan: LiquidationPlan
) -> list[Leg]:
    """The trader forfeits the margin; the house takes the PnL at the price; insurance the rest."""
    return [
        Leg(account, Asset.USD, -plan.margin, bucket="locked"),
        Leg(house, Asset.USD, -plan.pnl),
        Leg(insurance, Asset.USD, plan.insurance),
    ]


def liquidation_memo(*, side: str, qty: Decimal, symbol: str, price: Decimal, liq: Decimal) -> str:
    return f"liquidation of {side} {qty} {symbol} @ {price} (liq {liq})"


def close_legs(
    *, account: LedgerAccount, house: LedgerAccount, fees: LedgerAccount, insurance: LedgerAccount, plan: ClosePlan
) -> list[Leg]:
    """A close: the released margin leaves the locked bucket, the payout lands in free USD, the
    house takes the other side of the PnL, the fee goes to ``fees``, a gap past bankruptcy is
    paid by ``insurance``."""
    return [
        Leg(account, Asset.USD, -plan.released_margin, bucket="locked"),
        Leg(account, Asset.USD, plan.payout),
        Leg(house, Asset.USD, -plan.realized_pnl),
        Leg(fees, Asset.USD, plan.fee),
        Leg(insurance, Asset.USD, plan.insurance),
    ]


def close_memo(*, side: str, symbol: str, plan: ClosePlan, reason: str = "") -> str:
    return f"close {plan.qty} of {side} {symbol} @ {plan.exit_price}" + (f" ({reason})" if reason else "")


def position_liquidate_locked(
    *, position: Position, account: LedgerAccount, quote: PriceQuote, house: LedgerAccount, insurance: LedgerAccount
) -> PositionEvent:
    """Settle a locked open position that the index ``quote`` has crossed exactly as the engine
    would: at the index, the margin forfeited, the gap (if any) paid by insurance."""
    price = quote.price
    plan = plan_liquidation(
        side=position.side, entry=position.entry_price, qty=position.qty, margin=position.margin, price=price
    )
    txn = ledger_post(
        reason=LedgerReason.LIQUIDATION,
        legs=liquidation_legs(account=account, house=house, insurance=insurance, plan=plan),
        reference_type="position",
        reference_id=str(position.id),
        memo=liquidation_memo(
            side=position.side, qty=position.qty, symbol=position.symbol, price=price, liq=position.liquidation_price
        ),
        shard_key=position.user_id,
    )
    now = timezone.now()
    position_transition(position, PositionStatus.LIQUIDATED)
    position.closed_at = position.updated_at = now
    position.exit_price = price
    position.realized_pnl -= position.margin
    position.take_profit_price = position.stop_loss_price = None  # they end with the position
    position.save(
        update_fields=["status", "closed_at", "updated_at", "exit_price", "realized_pnl", "take_profit_price",
                       "stop_loss_price"]
    )  # fmt: skip
    event = _history(
        position, PositionEventKind.LIQUIDATION, txn=txn, now=now, qty=position.qty, price=price,
        index_price=price, margin=plan.margin, realized_pnl=-plan.margin, insurance=plan.insurance,
        price_computed_at=quote.computed_at,
    )  # fmt: skip
    data = position_liquidated_data(
        position=position, price=price, pnl=plan.pnl, insurance=plan.insurance, computed_at=quote.computed_at
    )
    user_event_emit(user_id=position.user_id, event_type="position_liquidated", data=data)
    return event


def _history(position: Position, kind: str, *, txn: LedgerTransaction, now: datetime, **fields: Any) -> PositionEvent:
    """The step's history row, with the position's liquidation price after the step."""
    return PositionEvent.objects.create(
        position=position,
        kind=kind,
        liquidation_price=position.liquidation_price,
        ledger_txn=txn,
        created_at=now,
        **fields,
    )


def _margin_legs(account: LedgerAccount, fees: LedgerAccount, plan: OpenPlan) -> list[Leg]:
    return [
        Leg(account, Asset.USD, -(plan.margin + plan.fee)),
        Leg(account, Asset.USD, plan.margin, bucket="locked"),
        Leg(fees, Asset.USD, plan.fee),
    ]


def position_create(
    *, user: User, account: LedgerAccount, fees: LedgerAccount, plan: OpenPlan, symbol: str, mmr: Decimal, source: str,
    client_order_id: str,
    digest: str,
) -> tuple[Position, PositionEvent]:  # fmt: skip
    """A new open position: its margin locked and its fee paid in one ledger transaction."""
    now = timezone.now()
    position = Position.objects.create(
        user=user,
        account=account,
        client_order_id=client_order_id,
        request_hash=digest,
        symbol=symbol,
        side=plan.side,
        status=PositionStatus.OPEN,
        leverage=plan.leverage,
        mmr=mmr,
        entry_price=plan.entry_price,
        index_price=plan.index_price,
        slippage_bps=plan.slippage_bps,
        price_source=source,
        qty=plan.qty,
        margin=plan.margin,
        initial_qty=plan.qty,
        initial_margin=plan.margin,
        liquidation_price=plan.liquidation_price,
        fee=plan.fee,
        fees_paid=plan.fee,
        epoch=account.epoch,
        opened_at=now,
        updated_at=now,
    )
    txn = ledger_post(
        reason=LedgerReason.MARGIN,
        legs=_margin_legs(account, fees, plan),
        reference_type="position",
        reference_id=str(position.id),
        memo=f"open {plan.side} {plan.qty} {symbol} @ {plan.entry_price} x{plan.leverage}",
        shard_key=user.pk,
    )
    event = _history(
        position, PositionEventKind.OPEN, txn=txn, now=now, qty=plan.qty, price=plan.entry_price,
        index_price=plan.index_price, margin=plan.margin, fee=plan.fee,
    )  # fmt: skip
    return position, event


def position_increase(
    *, position: Position, account: LedgerAccount, fees: LedgerAccount, plan: OpenPlan, grown: IncreasePlan
) -> PositionEvent:
    """Add ``plan`` (an order on the position's side) to the locked position."""
    txn = ledger_post(
        reason=LedgerReason.MARGIN,
        legs=_margin_legs(account, fees, plan),
        reference_type="position",
        reference_id=str(position.id),
        memo=f"increase {position.side} {position.symbol} by {plan.qty} @ {plan.entry_price}",
        shard_key=position.user_id,
    )
    now = timezone.now()
    position.qty, position.margin, position.entry_price = grown.qty, grown.margin, grown.entry_price
    position.leverage, position.liquidation_price = grown.leverage, grown.liquidation_price
    position.fees_paid += plan.fee
    position.updated_at = now
    position.save()
    return _history(
        position, PositionEventKind.INCREASE, txn=txn, now=now, qty=plan.qty, price=plan.entry_price,
        index_price=plan.index_price, margin=plan.margin, fee=plan.fee,
    )  # fmt: skip


def position_reduce(
    *,
    position: Position,
    account: LedgerAccount,
    house: LedgerAccount,
    fees: LedgerAccount,
    insurance: LedgerAccount,
    plan: ClosePlan,
    price_tick: Decimal,
    reason: str = "",
    computed_at: datetime | None = None,
) -> PositionEvent:
    """Close ``plan.qty`` of the locked position (all of it when nothing remains: its take-profit
    and stop-loss end with it); what remains gets its liquidation price again, on the market's
    ``price_tick``. ``reason``: ``take_profit`` / ``stop_loss`` when one fired, at the tick of
    ``computed_at`` (kept in the history row)."""
    txn = ledger_post(
        reason=LedgerReason.REALIZED_PNL,
        legs=close_legs(account=account, house=house, fees=fees, insurance=insurance, plan=plan),
        reference_type="position",
        reference_id=str(position.id),
        memo=close_memo(side=position.side, symbol=position.symbol, plan=plan, reason=reason),
        shard_key=position.user_id,
    )
    now = timezone.now()
    position.realized_pnl += plan.realized_pnl
    position.fees_paid += plan.fee
    position.exit_price = plan.exit_price
    position.updated_at = now
    if plan.remaining_qty == 0:
        position_transition(position, PositionStatus.CLOSED)
        position.closed_at = now
        position.take_profit_price = position.stop_loss_price = None
    else:
        position.qty, position.margin = plan.remaining_qty, plan.remaining_margin
        position.liquidation_price = liquidation_price(
            position.side, position.entry_price, position.margin, position.qty, position.mmr, price_tick
        )
    position.save()
    return _history(
        position, PositionEventKind.CLOSE, txn=txn, now=now, qty=plan.qty, price=plan.exit_price,
        index_price=plan.index_price, margin=plan.released_margin, fee=plan.fee, realized_pnl=plan.realized_pnl,
        insurance=plan.insurance, reason=reason, price_computed_at=computed_at,
    )  # fmt: skip
