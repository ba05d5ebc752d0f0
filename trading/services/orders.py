"""Market order placement: price first (no lock), then one durable transaction.

Inside the transaction: lock the user's balance rows, re-check idempotency under that lock,
insert the order, post the fill's ledger transaction (user, ``house``, ``fees``), insert the
fill, update the SOL book; ``order_fill`` and ``portfolio_update`` go out after commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import DomainError
from portfolio.errors import InsufficientFunds
from portfolio.events import portfolio_update_publish
from portfolio.leaderboard import leaderboard_touch_on_commit
from portfolio.models import Asset, LedgerAccount, LedgerReason
from portfolio.services import Leg, account_open, balance_lock, holding_apply_fill, ledger_post, system_account_get
from pricing.selectors import price_get_latest
from trading.errors import IdempotencyKeyReused, OrderRuleViolation
from trading.events import order_fill_publish
from trading.execution import Execution, MarketRules, RuleViolation, SlippageModel, plan_market_order
from trading.models import ORDER_TRANSITIONS, Fill, Order, OrderRejection, OrderStatus

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    replayed: bool


def order_transition(order: Order, to: str) -> None:
    """The one place an order's status changes (``ORDER_TRANSITIONS``)."""
    if to not in ORDER_TRANSITIONS[order.status]:
        raise ValueError(f"order {order.id}: {order.status} -> {to} is not allowed")
    order.status = to


def market_rules() -> MarketRules:
    return MarketRules(
        min_qty=settings.TRADING_MIN_QTY,
        qty_step=settings.TRADING_QTY_STEP,
        min_notional=settings.TRADING_MIN_NOTIONAL,
        max_notional=settings.TRADING_MAX_NOTIONAL,
    )


def slippage_model() -> SlippageModel:
    return SlippageModel(
        spread_bps=settings.TRADING_SPREAD_BPS,
        impact_bps=settings.TRADING_IMPACT_BPS,
        impact_ref_notional=settings.TRADING_IMPACT_REF_NOTIONAL,
        max_bps=settings.TRADING_MAX_SLIPPAGE_BPS,
    )


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def request_hash(*, symbol: str, side: str, type: str, qty: Decimal | None, notional: Decimal | None) -> str:
    """Fingerprint of the order's meaning ("1.0" and "1" are the same quantity)."""
    body = {"symbol": symbol, "side": side, "type": type, "qty": _plain(qty), "notional": _plain(notional)}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replay(*, user, client_order_id: str, digest: str) -> Order | None:
    """The stored outcome for this id: the order, a re-raised rejection, or ``None``."""
    order = Order.objects.filter(user=user, client_order_id=client_order_id).first()
    if order is not None:
        if order.request_hash != digest:
            raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
        return order
    rejection = OrderRejection.objects.filter(user=user, client_order_id=client_order_id).first()
    if rejection is not None:
        if rejection.request_hash != digest:
            raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
        raise DomainError(
            rejection.message,
            code=rejection.code,
            status=rejection.status,
            extra=rejection.extra,
            headers={REPLAYED_HEADER: "true"},
        )
    return None


def _reject(*, user, client_order_id: str, digest: str, error: DomainError) -> DomainError:
    """Remember a business rejection so the same id gets the same answer for ever."""
    try:
        with transaction.atomic():
            OrderRejection.objects.create(
                user=user,
                client_order_id=client_order_id,
                request_hash=digest,
                code=error.code,
                message=error.message[:255],
                status=error.status,
                extra=error.extra,
            )
    except IntegrityError:
        pass  # a concurrent duplicate stored it (or an order) first
    return error


def _legs(account: LedgerAccount, house: LedgerAccount, fees: LedgerAccount, plan: Execution) -> list[Leg]:
    sign = 1 if plan.side == "buy" else -1
    return [
        Leg(account, Asset.SOL, sign * plan.qty),
        Leg(house, Asset.SOL, -sign * plan.qty),
        Leg(account, Asset.USD, plan.cash_delta),
        Leg(house, Asset.USD, sign * plan.notional),
        Leg(fees, Asset.USD, plan.fee),
    ]


def order_place(
    *,
    user,
    client_order_id: str,
    symbol: str,
    side: str,
    type: str,
    qty: Decimal | None = None,
    notional: Decimal | None = None,
) -> PlacedOrder:
    """Place and fill a market order, or raise a ``DomainError`` (nothing written but the rejection)."""
    digest = request_hash(symbol=symbol, side=side, type=type, qty=qty, notional=notional)
    existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
    if existing is not None:
        return PlacedOrder(existing, True)

    quote = price_get_latest()  # 503 price_unavailable / price_stale: nothing stored, retry allowed
    try:
        plan = plan_market_order(
            side=side,
            index_price=quote.price,
            qty=qty,
            notional=notional,
            rules=market_rules(),
            model=slippage_model(),
            fee_bps=settings.TRADING_FEE_BPS,
        )
    except RuleViolation as violation:
        error = OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra)
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None

    account = account_open(user=user)
    house, fees = system_account_get(code="house"), system_account_get(code="fees")
    try:
        with transaction.atomic(durable=True):
            balance_lock(keys=[(account, Asset.USD, 0), (account, Asset.SOL, 0)])
            existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
            if existing is not None:
                return PlacedOrder(existing, True)
            account.epoch = LedgerAccount.objects.values_list("epoch", flat=True).get(pk=account.pk)
            now = timezone.now()
            order = Order(
                user=user,
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                type=type,
                qty=qty,
                notional=notional,
                filled_qty=plan.qty,
                filled_avg_price=plan.price,
                fee=plan.fee,
                slippage_bps=plan.slippage_bps,
                index_price=plan.index_price,
                price_source=quote.source_label,
                epoch=account.epoch,
                request_hash=digest,
                created_at=now,
                filled_at=now,
            )
            order_transition(order, OrderStatus.FILLED)
            order.save(force_insert=True)
            txn = ledger_post(
                reason=LedgerReason.TRADE,
                legs=_legs(account, house, fees, plan),
                reference_type="order",
                reference_id=str(order.id),
                memo=f"{side} {plan.qty} SOL @ {plan.price}",
                shard_key=user.pk,
            )
            fill = Fill.objects.create(
                order=order,
                user=user,
                symbol=symbol,
                side=side,
                qty=plan.qty,
                price=plan.price,
                notional=plan.notional,
                fee=plan.fee,
                ledger_txn=txn,
                created_at=now,
            )
            holding_apply_fill(account=account, side=side, qty=plan.qty, notional=plan.notional, fee=plan.fee)
            order_fill_publish(order=order, fill=fill)
            portfolio_update_publish(account=account)
            leaderboard_touch_on_commit(account_id=account.pk)
    except InsufficientFunds as error:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    except IntegrityError:
        existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
        if existing is None:
            raise
        return PlacedOrder(existing, True)
    return PlacedOrder(order, False)
