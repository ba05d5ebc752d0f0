"""Opening and closing leveraged positions (docs/positions.md).

Both read the price first (no lock, 503 when missing or stale), then run one durable
transaction: lock the trader's USD balance row, then the position row, then the system
shard rows (inside ``ledger_post``, the leaves of the lock graph, as for spot fills),
then the user's event counter (``user_event_emit``). Events go out on commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import DomainError
from portfolio.errors import InsufficientFunds
from portfolio.leaderboard import leaderboard_touch_on_commit
from portfolio.models import Asset, LedgerAccount, LedgerReason
from portfolio.services import Leg, account_open, balance_lock, ledger_post, system_account_get
from pricing.selectors import PriceQuote, price_get_latest
from trading.errors import (
    CloseQtyTooLarge,
    OrderRuleViolation,
    PositionNotFound,
    PositionNotOpen,
    SlippageExceeded,
)
from trading.events import portfolio_update_emit, position_update_emit
from trading.execution import RuleViolation
from trading.idempotency import outcome_replay, rejection_store
from trading.margin import PerpRules, liquidation_price, plan_close, plan_open
from trading.models import (
    POSITION_TRANSITIONS,
    Position,
    PositionEvent,
    PositionEventKind,
    PositionRejection,
    PositionStatus,
)
from trading.services.orders import slippage_model

BPS_PER_PERCENT = Decimal(100)


@dataclass(frozen=True)
class OpenedPosition:
    position: Position
    replayed: bool


@dataclass(frozen=True)
class ClosedPosition:
    position: Position
    event: PositionEvent


def perp_rules() -> PerpRules:
    return PerpRules(
        max_leverage=settings.POSITION_MAX_LEVERAGE,
        mmr=settings.POSITION_MMR,
        fee_bps=settings.POSITION_FEE_BPS,
        min_qty=settings.TRADING_MIN_QTY,
        qty_step=settings.TRADING_QTY_STEP,
        min_notional=settings.POSITION_MIN_NOTIONAL,
        max_notional=settings.POSITION_MAX_NOTIONAL,
    )


def position_transition(position: Position, to: str) -> None:
    """The one place a position's status changes (``POSITION_TRANSITIONS``)."""
    if to not in POSITION_TRANSITIONS[position.status]:
        raise ValueError(f"position {position.id}: {position.status} -> {to} is not allowed")
    position.status = to


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def position_request_hash(
    *, symbol: str, side: str, leverage: Decimal, margin: Decimal | None, qty: Decimal | None
) -> str:
    body = {"symbol": symbol, "side": side, "leverage": _plain(leverage), "margin": _plain(margin), "qty": _plain(qty)}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replay(*, user, client_order_id: str, digest: str) -> Position | None:
    return outcome_replay(
        model=Position, rejection_model=PositionRejection, user=user, client_order_id=client_order_id, digest=digest
    )


def _reject(*, user, client_order_id: str, digest: str, error: DomainError) -> DomainError:
    return rejection_store(
        rejection_model=PositionRejection, user=user, client_order_id=client_order_id, digest=digest, error=error
    )


def check_tolerance(*, buys: bool, fill: Decimal, reference: Decimal | None, pct: Decimal | None) -> None:
    """The seed's ``currentPrice`` + ``slippage`` (percent): refuse a fill worse than the client accepts."""
    if reference is None or pct is None:
        return
    limit = reference * (1 + pct / BPS_PER_PERCENT) if buys else reference * (1 - pct / BPS_PER_PERCENT)
    if (buys and fill > limit) or (not buys and fill < limit):
        raise SlippageExceeded(
            extra={"current_price": str(reference), "slippage_pct": str(pct), "fill_price": str(fill)}
        )


def position_open(
    *,
    user,
    side: str,
    leverage: Decimal,
    client_order_id: str | None = None,
    margin: Decimal | None = None,
    qty: Decimal | None = None,
    symbol: str = "SOL-PERP",
    reference_price: Decimal | None = None,
    slippage_pct: Decimal | None = None,
) -> OpenedPosition:
    """Open a position (idempotent by ``client_order_id``) or raise a ``DomainError`` (nothing written
    but a stored rejection). Without an id (seed route) a fresh one is generated."""
    client_order_id = client_order_id or f"auto-{uuid.uuid4().hex}"
    digest = position_request_hash(symbol=symbol, side=side, leverage=leverage, margin=margin, qty=qty)
    existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
    if existing is not None:
        return OpenedPosition(existing, True)

    quote = price_get_latest()
    rules = perp_rules()
    try:
        plan = plan_open(
            side=side, index_price=quote.price, leverage=leverage, margin=margin, qty=qty, rules=rules,
            model=slippage_model(),
        )  # fmt: skip
    except RuleViolation as violation:
        error = OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra)
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    check_tolerance(buys=side == "long", fill=plan.entry_price, reference=reference_price, pct=slippage_pct)

    account = account_open(user=user)
    fees = system_account_get(code="fees")
    try:
        with transaction.atomic(durable=True):
            balance_lock(keys=[(account, Asset.USD, 0)])
            existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
            if existing is not None:
                return OpenedPosition(existing, True)
            account.epoch = LedgerAccount.objects.values_list("epoch", flat=True).get(pk=account.pk)
            now = timezone.now()
            position = Position.objects.create(
                user=user,
                account=account,
                client_order_id=client_order_id,
                request_hash=digest,
                symbol=symbol,
                side=side,
                status=PositionStatus.OPEN,
                leverage=plan.leverage,
                mmr=rules.mmr,
                entry_price=plan.entry_price,
                index_price=plan.index_price,
                slippage_bps=plan.slippage_bps,
                price_source=quote.source_label,
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
                legs=[
                    Leg(account, Asset.USD, -(plan.margin + plan.fee)),
                    Leg(account, Asset.USD, plan.margin, bucket="locked"),
                    Leg(fees, Asset.USD, plan.fee),
                ],
                reference_type="position",
                reference_id=str(position.id),
                memo=f"open {side} {plan.qty} SOL-PERP @ {plan.entry_price} x{plan.leverage}",
                shard_key=user.pk,
            )
            PositionEvent.objects.create(
                position=position,
                kind=PositionEventKind.OPEN,
                qty=plan.qty,
                price=plan.entry_price,
                index_price=plan.index_price,
                margin=plan.margin,
                fee=plan.fee,
                liquidation_price=plan.liquidation_price,
                ledger_txn=txn,
                created_at=now,
            )
            position_update_emit(position=position, reason="opened")
            portfolio_update_emit(account=account)
            leaderboard_touch_on_commit(account_id=account.pk)
    except InsufficientFunds as error:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    except IntegrityError:
        existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
        if existing is None:
            raise
        return OpenedPosition(existing, True)
    return OpenedPosition(position, False)


def position_close(
    *,
    user,
    position_id,
    qty: Decimal | None = None,
    reference_price: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    quote: PriceQuote | None = None,
) -> ClosedPosition:
    """Close all (``qty=None``) or part of an open position at the index against the taker.

    404 ``not_found`` for anyone else's position; 409 ``position_not_open`` once it is closed
    or liquidated (re-checked under the row lock, so a close racing the engine loses cleanly).
    """
    owner = Position.objects.filter(pk=position_id, user=user).values_list("account_id", flat=True).first()
    if owner is None:
        raise PositionNotFound(extra={"position_id": str(position_id)})
    quote = quote or price_get_latest()
    account = LedgerAccount.objects.get(pk=owner)
    house, fees, insurance = (system_account_get(code=c) for c in ("house", "fees", "insurance"))
    with transaction.atomic(durable=True):
        balance_lock(keys=[(account, Asset.USD, 0)])
        position = Position.objects.select_for_update(of=("self",)).get(pk=position_id)
        if position.status != PositionStatus.OPEN:
            raise PositionNotOpen(extra={"position_id": str(position.id), "status": position.status})
        close_qty = position.qty if qty is None else qty
        if close_qty > position.qty:
            raise CloseQtyTooLarge(extra={"qty": str(close_qty), "position_qty": str(position.qty)})
        plan = plan_close(
            side=position.side, entry=position.entry_price, qty=position.qty, margin=position.margin,
            close_qty=close_qty, index_price=quote.price, fee_bps=settings.POSITION_FEE_BPS, model=slippage_model(),
        )  # fmt: skip
        check_tolerance(
            buys=position.side == "short", fill=plan.exit_price, reference=reference_price, pct=slippage_pct
        )
        txn = ledger_post(
            reason=LedgerReason.REALIZED_PNL,
            legs=[
                Leg(account, Asset.USD, -plan.released_margin, bucket="locked"),
                Leg(account, Asset.USD, plan.payout),
                Leg(house, Asset.USD, -plan.realized_pnl),
                Leg(fees, Asset.USD, plan.fee),
                Leg(insurance, Asset.USD, plan.insurance),
            ],
            reference_type="position",
            reference_id=str(position.id),
            memo=f"close {plan.qty} of {position.side} SOL-PERP @ {plan.exit_price}",
            shard_key=user.pk,
        )
        now = timezone.now()
        position.realized_pnl += plan.realized_pnl
        position.fees_paid += plan.fee
        position.exit_price = plan.exit_price
        position.updated_at = now
        if plan.remaining_qty == 0:
            position_transition(position, PositionStatus.CLOSED)
            position.closed_at = now
        else:
            position.qty, position.margin = plan.remaining_qty, plan.remaining_margin
            position.liquidation_price = liquidation_price(
                position.side, position.entry_price, position.margin, position.qty, position.mmr
            )
        position.save()
        event = PositionEvent.objects.create(
            position=position,
            kind=PositionEventKind.CLOSE,
            qty=plan.qty,
            price=plan.exit_price,
            index_price=plan.index_price,
            margin=plan.released_margin,
            fee=plan.fee,
            realized_pnl=plan.realized_pnl,
            insurance=plan.insurance,
            liquidation_price=position.liquidation_price,
            ledger_txn=txn,
            created_at=now,
        )
        position_update_emit(position=position, reason="closed" if plan.remaining_qty == 0 else "reduced")
        portfolio_update_emit(account=account)
        leaderboard_touch_on_commit(account_id=account.pk)
    return ClosedPosition(position, event)
