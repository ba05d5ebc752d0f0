"""Market order placement: price first (no lock), then one durable transaction.

Before it, one query reads the user's account, ``house``, ``fees`` and whether the id already
has an outcome (replays stop there). Inside the transaction (``command_atomic``: a lock timeout,
503 ``lock_timeout``): lock the user's balance rows, re-check idempotency (and read the epoch)
under that lock, re-check the price's age (503 ``price_stale``), insert the order, post the fill's
ledger transaction (user, ``house``, ``fees``), insert the fill, update the SOL book;
``order_fill`` and ``portfolio_update`` go out after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from core.errors import DomainError
from portfolio.errors import InsufficientFunds
from portfolio.events import portfolio_update_data
from portfolio.leaderboard import leaderboard_touch_on_commit
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerReason
from portfolio.services import Leg, account_open, balance_lock, holding_apply_fill, ledger_post, system_account_get
from pricing.selectors import price_get_latest
from realtime.publish import user_events_emit_many
from trading.errors import OrderRuleViolation
from trading.events import order_fill_data
from trading.execution import Execution, MarketRules, RuleViolation, SlippageModel, plan_market_order
from trading.idempotency import fingerprint, outcome_replay, rejection_store
from trading.models import ORDER_TRANSITIONS, Fill, Order, OrderRejection, OrderStatus
from trading.services.command import command_atomic, quote_fresh_check


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


def request_hash(*, symbol: str, side: str, type: str, qty: Decimal | None, notional: Decimal | None) -> str:
    """Fingerprint of the order's meaning ("1.0" and "1" are the same quantity)."""
    return fingerprint({"symbol": symbol, "side": side, "type": type, "qty": qty, "notional": notional})


# The idempotency check rides along on queries the service makes anyway: two scalar subqueries
# give the stored order's / rejection's request hash for this id (or NULL). Plain SQL, because
# compiling the equivalent annotated querysets cost more CPU per order than the round trip saved.
_OUTCOME_COLUMNS = (
    f"(SELECT request_hash FROM {Order._meta.db_table} WHERE user_id = %s AND client_order_id = %s) AS order_hash, "
    f"(SELECT request_hash FROM {OrderRejection._meta.db_table} WHERE user_id = %s AND client_order_id = %s) "
    "AS rejection_hash"
)
_ACCOUNTS_SQL = (
    f"SELECT a.*, {_OUTCOME_COLUMNS} FROM {LedgerAccount._meta.db_table} a "
    "WHERE a.user_id = %s OR a.code IN ('house', 'fees')"
)
_EPOCH_AND_OUTCOME_SQL = f"SELECT epoch, {_OUTCOME_COLUMNS} FROM {LedgerAccount._meta.db_table} WHERE id = %s"


def _accounts_get(*, user, client_order_id: str) -> tuple[LedgerAccount, LedgerAccount, LedgerAccount, bool]:
    """The user's account, ``house`` and ``fees`` in one query, and whether this id has a stored
    outcome (so a replay skips the price and the transaction). Opens what is missing."""
    ids = [user.pk, client_order_id]
    rows = list(LedgerAccount.objects.raw(_ACCOUNTS_SQL, [*ids, *ids, user.pk]))
    found = {row.code if row.is_system else "user": row for row in rows}
    stored = bool(rows) and (rows[0].order_hash is not None or rows[0].rejection_hash is not None)
    account = found.get("user") or account_open(user=user)
    house = found.get("house") or system_account_get(code="house")
    fees = found.get("fees") or system_account_get(code="fees")
    return account, house, fees, stored


def _epoch_and_outcome(*, account: LedgerAccount, user_id: int, client_order_id: str) -> tuple[int, bool]:
    """The account's epoch and whether this id has a stored outcome (one statement)."""
    ids = [user_id, client_order_id]
    with connection.cursor() as cursor:
        cursor.execute(_EPOCH_AND_OUTCOME_SQL, [*ids, *ids, account.pk])
        epoch, order_hash, rejection_hash = cursor.fetchone()
    return epoch, order_hash is not None or rejection_hash is not None


def _replay(*, user, client_order_id: str, digest: str) -> Order | None:
    return outcome_replay(
        model=Order, rejection_model=OrderRejection, user=user, client_order_id=client_order_id, digest=digest
    )


def _reject(*, user, client_order_id: str, digest: str, error: DomainError) -> DomainError:
    return rejection_store(
        rejection_model=OrderRejection, user=user, client_order_id=client_order_id, digest=digest, error=error
    )


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
    account, house, fees, stored = _accounts_get(user=user, client_order_id=client_order_id)
    if stored:
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

    try:
        with command_atomic():
            locked = balance_lock(keys=[(account, Asset.USD, 0), (account, Asset.SOL, 0)])
            # After the lock (a separate statement, so its snapshot sees what a concurrent
            # duplicate or reset committed while we waited): the epoch and this id's outcome.
            account.epoch, stored = _epoch_and_outcome(
                account=account, user_id=user.pk, client_order_id=client_order_id
            )
            if stored:
                existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
                if existing is not None:
                    return PlacedOrder(existing, True)
            quote_fresh_check(quote)  # the price read before the wait is still within its budget
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
            legs = _legs(account, house, fees, plan)
            txn = ledger_post(
                reason=LedgerReason.TRADE,
                legs=legs,
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
            holding = holding_apply_fill(account=account, side=side, qty=plan.qty, notional=plan.notional, fee=plan.fee)
            # Both events in one batch (two statements, one publish run after commit), in this
            # order: order_fill seq n, portfolio_update seq n+1 -- what two emits would give.
            portfolio = portfolio_update_data(account, balances=_balances_after(locked, legs), holding=holding)
            user_events_emit_many(
                [(user.pk, "order_fill", order_fill_data(order, fill)), (user.pk, "portfolio_update", portfolio)]
            )
            leaderboard_touch_on_commit(account_id=account.pk)
    except InsufficientFunds as error:
        raise _reject(user=user, client_order_id=client_order_id, digest=digest, error=error) from None
    except IntegrityError:
        existing = _replay(user=user, client_order_id=client_order_id, digest=digest)
        if existing is None:
            raise
        return PlacedOrder(existing, True)
    return PlacedOrder(order, False)


def _balances_after(locked: dict[tuple[int, str, int], Balance], legs: list[Leg]) -> list[Balance]:
    """The user's balance rows as ``ledger_post`` left them, for the event payload, without a
    re-read: the rows are locked by this transaction from before the posting, so their state is
    what we read plus our legs. Unsaved copies: nothing here writes a balance."""
    after = []
    for (account_id, asset, _shard), row in locked.items():
        mine = [leg for leg in legs if leg.account.pk == account_id and leg.asset == asset]
        total = row.total + sum((leg.amount for leg in mine), Decimal(0))
        held = row.locked + sum((leg.amount for leg in mine if leg.bucket == Bucket.LOCKED), Decimal(0))
        after.append(Balance(account_id=account_id, asset=asset, total=total, locked=held))
    return after
