"""Commands on leveraged positions (docs/positions.md): an order by side on a market, and a close.

Positions are net: one open position per user and market. An order on the position's side
increases it; on the other side it reduces, closes or flips it (``trading.netting``). A command
on a position the index has already crossed first settles it as the liquidation it is.

Each command: resolve its ``client_order_id`` (a stored outcome replays), read the price (no
lock; 503 when missing or stale), plan with pure maths, then one durable transaction with a lock
timeout (``command_atomic``): lock the trader's USD balance row, re-check the id, re-check the
price's age, lock the position row, write the steps (``position_book``; the ledger locks the
system shard rows last), record the ``PositionOrder``; events go out on commit. A business
rejection is stored for its id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError

from core.errors import DomainError
from core.money import dec_str
from portfolio.errors import InsufficientFunds
from portfolio.leaderboard import leaderboard_touch_on_commit
from portfolio.models import Asset, LedgerAccount
from portfolio.services import account_open, balance_lock, system_account_get
from pricing.selectors import PriceQuote, price_get_latest
from trading.errors import (
    CloseLeavesDust,
    CloseQtyTooLarge,
    OrderRuleViolation,
    PositionNotFound,
    PositionNotOpen,
    SlippageExceeded,
)
from trading.events import portfolio_update_emit, position_update_emit
from trading.execution import RuleViolation
from trading.idempotency import fingerprint, outcome_replay, rejection_store
from trading.margin import PerpRules, is_crossed, plan_close, plan_close_at, plan_open, plan_open_at, taker_side
from trading.models import Position, PositionOrder, PositionOrderAction, PositionRejection
from trading.netting import check_close_qty, net_split, plan_increase
from trading.services.command import command_atomic, quote_fresh_check
from trading.services.orders import slippage_model
from trading.services.position_book import (
    open_position_lock,
    position_create,
    position_increase,
    position_liquidate_locked,
    position_lock,
    position_reduce,
)

BPS_PER_PERCENT = Decimal(100)
_REASONS = {
    PositionOrderAction.OPEN: "opened",
    PositionOrderAction.INCREASE: "increased",
    PositionOrderAction.REDUCE: "reduced",
    PositionOrderAction.CLOSE: "closed",
    PositionOrderAction.FLIP: "flipped",
}


@dataclass(frozen=True)
class OpenedPosition:
    position: Position
    replayed: bool


@dataclass(frozen=True)
class ClosedPosition:
    position: Position
    event: object  # the PositionEvent: a close, or the liquidation a crossed position settled as
    replayed: bool = False


class _Rejected(Exception):
    """A business rule refused the command inside its transaction (rolled back): store it after."""

    def __init__(self, error: DomainError) -> None:
        self.error = error


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


def position_request_hash(
    *, symbol: str, side: str, leverage: Decimal, margin: Decimal | None, qty: Decimal | None
) -> str:
    return fingerprint({"symbol": symbol, "side": side, "leverage": leverage, "margin": margin, "qty": qty})


def close_request_hash(*, position_id, qty: Decimal | None) -> str:
    return fingerprint({"close": str(position_id), "qty": qty})


def _replay(*, user, client_order_id: str, digest: str) -> PositionOrder | None:
    return outcome_replay(
        model=PositionOrder.objects.select_related("position", "event"),
        rejection_model=PositionRejection,
        user=user,
        client_order_id=client_order_id,
        digest=digest,
    )


def _reject(*, user, client_order_id: str, digest: str, error: DomainError) -> DomainError:
    return rejection_store(
        rejection_model=PositionRejection, user=user, client_order_id=client_order_id, digest=digest, error=error
    )


def _rule_error(violation: RuleViolation) -> OrderRuleViolation:
    return OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra)


def check_tolerance(*, buys: bool, fill: Decimal, reference: Decimal | None, pct: Decimal | None) -> None:
    """The seed's ``currentPrice`` + ``slippage`` (percent): refuse a fill worse than the client accepts."""
    if reference is None or pct is None:
        return
    limit = reference * (1 + pct / BPS_PER_PERCENT) if buys else reference * (1 - pct / BPS_PER_PERCENT)
    if (buys and fill > limit) or (not buys and fill < limit):
        raise SlippageExceeded(
            extra={"current_price": str(reference), "slippage_pct": str(pct), "fill_price": str(fill)}
        )


def _system_accounts():
    return (system_account_get(code=c) for c in ("house", "fees", "insurance"))


def _announce(*, position: Position, account: LedgerAccount, reason: str | None) -> None:
    if reason:  # a liquidation announced itself (position_liquidated)
        position_update_emit(position=position, reason=reason)
    portfolio_update_emit(account=account)
    leaderboard_touch_on_commit(account_id=account.pk)


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
    """An order of ``side`` (long buys, short sells) on ``symbol``: opens, increases, reduces,
    closes or flips the user's net position. Idempotent by ``client_order_id`` (generated for the
    seed route when absent); a ``DomainError`` writes nothing but a stored rejection."""
    client_order_id = client_order_id or f"auto-{uuid.uuid4().hex}"
    digest = position_request_hash(symbol=symbol, side=side, leverage=leverage, margin=margin, qty=qty)
    stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
    if stored is not None:
        return OpenedPosition(stored.position, True)

    quote = price_get_latest()
    rules = perp_rules()
    try:
        plan = plan_open(
            side=side, index_price=quote.price, leverage=leverage, margin=margin, qty=qty, rules=rules,
            model=slippage_model(),
        )  # fmt: skip
    except RuleViolation as violation:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=_rule_error(violation)) from None
    check_tolerance(buys=side == "long", fill=plan.entry_price, reference=reference_price, pct=slippage_pct)

    account = account_open(user=user)
    house, fees, insurance = _system_accounts()
    try:
        with command_atomic():
            balance_lock(keys=[(account, Asset.USD, 0)])
            stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
            if stored is not None:
                return OpenedPosition(stored.position, True)
            quote_fresh_check(quote)
            account.epoch = LedgerAccount.objects.values_list("epoch", flat=True).get(pk=account.pk)
            current = open_position_lock(user=user, symbol=symbol)
            if current is not None and is_crossed(current.side, current.liquidation_price, quote.price):
                position_liquidate_locked(
                    position=current, account=account, quote=quote, house=house, insurance=insurance
                )
                current = None
            new = dict(user=user, account=account, fees=fees, symbol=symbol, mmr=rules.mmr,
                       source=quote.source_label, client_order_id=client_order_id, digest=digest)  # fmt: skip
            realized = Decimal(0)
            fee = plan.fee
            if current is None:
                action, filled = PositionOrderAction.OPEN, plan.qty
                position, event = position_create(plan=plan, **new)
            elif current.side == side:
                action, filled, position = PositionOrderAction.INCREASE, plan.qty, current
                grown = plan_increase(
                    side=side, entry=current.entry_price, qty=current.qty, margin=current.margin, mmr=current.mmr,
                    add=plan, rules=rules,
                )  # fmt: skip
                event = position_increase(position=current, account=account, fees=fees, plan=plan, grown=grown)
            else:
                close_qty, open_qty = net_split(position_qty=current.qty, order_qty=plan.qty, min_qty=rules.min_qty)
                closing = plan_close_at(
                    side=current.side, entry=current.entry_price, qty=current.qty, margin=current.margin,
                    close_qty=close_qty, index_price=plan.index_price, exit_price=plan.entry_price,
                    fee_bps=rules.fee_bps,
                )  # fmt: skip
                event = position_reduce(
                    position=current, account=account, house=house, fees=fees, insurance=insurance, plan=closing
                )
                action = PositionOrderAction.REDUCE if closing.remaining_qty else PositionOrderAction.CLOSE
                position, filled, realized, fee = current, close_qty, closing.realized_pnl, closing.fee
                rest = _flip_rest(side=side, plan=plan, qty=open_qty, leverage=leverage, rules=rules)
                if rest is not None:
                    position_update_emit(position=current, reason="closed")
                    position, event = position_create(plan=rest, **new)
                    action, filled, fee = PositionOrderAction.FLIP, close_qty + rest.qty, fee + rest.fee
            PositionOrder.objects.create(
                user=user, client_order_id=client_order_id, request_hash=digest, symbol=symbol,
                side=taker_side(side, opening=True), action=action, qty=filled, price=plan.entry_price,
                index_price=plan.index_price, fee=fee, realized_pnl=realized, position=position, event=event,
            )  # fmt: skip
            _announce(position=position, account=account, reason=_REASONS[action])
    except RuleViolation as violation:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=_rule_error(violation)) from None
    except InsufficientFunds as error:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    except IntegrityError:
        stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
        if stored is None:
            raise
        return OpenedPosition(stored.position, True)
    return OpenedPosition(position, False)


def _flip_rest(*, side: str, plan, qty: Decimal, leverage: Decimal, rules: PerpRules):
    """What a flipping order opens on its own side after closing the other, or ``None`` (nothing
    left, or less than the size rules allow: that rest is canceled)."""
    if qty <= 0:
        return None
    try:
        return plan_open_at(
            side=side, index_price=plan.index_price, entry_price=plan.entry_price, qty=qty, leverage=leverage,
            rules=rules,
        )  # fmt: skip
    except RuleViolation:
        return None


def position_close(
    *,
    user,
    position_id,
    qty: Decimal | None = None,
    client_order_id: str | None = None,
    reference_price: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    quote: PriceQuote | None = None,
    created_by=None,
) -> ClosedPosition:
    """Close all (``qty=None``) or a lot of an open position at the index against the taker.

    404 ``not_found`` for anyone else's position; 409 ``position_not_open`` once it is closed or
    liquidated (re-checked under the row lock, so a close racing the engine loses cleanly). A
    position the index has crossed is settled as its liquidation (the answer's event says so).
    Idempotent by ``client_order_id`` (generated when absent: the seed route and the admin).
    """
    owner = Position.objects.filter(pk=position_id, user=user).values_list("account_id", flat=True).first()
    if owner is None:
        raise PositionNotFound(extra={"position_id": str(position_id)})
    client_order_id = client_order_id or f"auto-{uuid.uuid4().hex}"
    digest = close_request_hash(position_id=position_id, qty=qty)
    stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
    if stored is not None:
        return ClosedPosition(stored.position, stored.event, True)
    rules = perp_rules()
    if qty is not None:
        try:
            check_close_qty(close_qty=qty, rules=rules)
        except RuleViolation as violation:
            error = _rule_error(violation)
            raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    quote = quote or price_get_latest()
    account = LedgerAccount.objects.get(pk=owner)
    house, fees, insurance = _system_accounts()
    try:
        with command_atomic():
            balance_lock(keys=[(account, Asset.USD, 0)])
            stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
            if stored is not None:
                return ClosedPosition(stored.position, stored.event, True)
            quote_fresh_check(quote)
            position = position_lock(position_id=position_id)
            if position.status != "open":
                raise _Rejected(PositionNotOpen(extra={"position_id": str(position.id), "status": position.status}))
            side = taker_side(position.side, opening=False)
            if is_crossed(position.side, position.liquidation_price, quote.price):
                filled, price, fee, realized = position.qty, quote.price, Decimal(0), -position.margin
                event = position_liquidate_locked(
                    position=position, account=account, quote=quote, house=house, insurance=insurance
                )
                action = PositionOrderAction.LIQUIDATION
            else:
                plan = _close_plan(position=position, qty=qty, quote=quote, rules=rules)
                check_tolerance(buys=side == "buy", fill=plan.exit_price, reference=reference_price, pct=slippage_pct)
                event = position_reduce(
                    position=position, account=account, house=house, fees=fees, insurance=insurance, plan=plan
                )
                action = PositionOrderAction.CLOSE if plan.remaining_qty == 0 else PositionOrderAction.REDUCE
                filled, price, fee, realized = plan.qty, plan.exit_price, plan.fee, plan.realized_pnl
            PositionOrder.objects.create(
                user=user, client_order_id=client_order_id, request_hash=digest, symbol=position.symbol, side=side,
                action=action, qty=filled, price=price, index_price=quote.price, fee=fee, realized_pnl=realized,
                position=position, event=event, created_by=created_by,
            )  # fmt: skip
            _announce(position=position, account=account, reason=_REASONS.get(action))
    except _Rejected as rejected:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=rejected.error) from None
    except IntegrityError:
        stored = _replay(user=user, client_order_id=client_order_id, digest=digest)
        if stored is None:
            raise
        return ClosedPosition(stored.position, stored.event, True)
    return ClosedPosition(position, event)


def _close_plan(*, position: Position, qty: Decimal | None, quote: PriceQuote, rules: PerpRules):
    close_qty = position.qty if qty is None else qty
    sizes = {"qty": dec_str(close_qty), "position_qty": dec_str(position.qty)}
    if close_qty > position.qty:
        raise _Rejected(CloseQtyTooLarge(extra=sizes))
    if 0 < position.qty - close_qty < rules.min_qty:
        raise _Rejected(CloseLeavesDust(extra={**sizes, "min_qty": dec_str(rules.min_qty)}))
    return plan_close(
        side=position.side, entry=position.entry_price, qty=position.qty, margin=position.margin,
        close_qty=close_qty, index_price=quote.price, fee_bps=rules.fee_bps, model=slippage_model(),
    )  # fmt: skip
