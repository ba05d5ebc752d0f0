"""A market order's fill in ONE statement to PostgreSQL: the stored function
``trading_fill_market_order`` (``trading/sql/fill_market_order_v1.sql``).

The same command as ``command_run`` (``trading.services.command``), with the same checks, lock
order and answers (docs/trading.md, "The fill in one call"); only where the steps run differs:

* before the call, in Python: the price (Redis) and the pure plan (size rules, slippage, fee), the
  order's and fill's ids and the ``order_fill`` event's data -- everything that needs no row;
* the call, one statement in a transaction of its own (three round trips: BEGIN, the call,
  COMMIT): the id probe, the trader's balance
  locks, the probe again under them, the price's age after the lock wait, the free-balance check,
  the order, the ledger transaction and its entries, the fill, the base asset's book, the two events;
* after it: a stored outcome is replayed, a rejection stored for the id, the events published.

Where the one call cannot answer -- the trader's books are not open yet -- ``order_fill_one_call``
answers ``None`` and the caller takes the Python path, which opens them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.timefmt import iso_utc
from portfolio.errors import InsufficientFunds
from portfolio.services.ledger import system_shard
from realtime.groups import user_group
from realtime.publish import jsonable, publish_many_on_commit
from trading.errors import LockWaitTimeout, OrderRuleViolation
from trading.events import order_fill_data
from trading.execution import Execution, RuleViolation
from trading.models import Fill, Order, OrderStatus
from trading.services.command import Command, Prepared, is_lock_timeout, price_aged

_CALL = f"SELECT * FROM trading_fill_market_order({', '.join(['%s'] * 27)})"


def one_call_enabled() -> bool:
    """PostgreSQL has the function; ``TRADING_FILL_IN_ONE_CALL=0`` takes the Python path."""
    return connection.vendor == "postgresql" and settings.TRADING_FILL_IN_ONE_CALL


def order_fill_one_call(
    command: Command[Order],
    *,
    prepare: Callable[[], Prepared[Execution]],
    symbol: str,
    asset: str,
    type: str,
    qty: Decimal | None,
    notional: Decimal | None,
) -> tuple[Order, bool] | None:
    """``(order, replayed)``, a raised ``DomainError``, or ``None``: take the Python path."""
    try:
        prepared = prepare()
    except RuleViolation as violation:  # a stored outcome for the id answers first, as in command_run
        if (stored := command.replay()) is not None:
            return stored, True
        error = OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra)
        raise command.reject(error) from None
    except DomainError:  # no price, or a stale one: likewise
        if (stored := command.replay()) is not None:
            return stored, True
        raise
    plan, user, now = prepared.plan, command.user, timezone.now()
    order = Order(
        id=uuid.uuid4(), user=user, client_order_id=command.client_order_id, symbol=symbol, side=plan.side,
        type=type, qty=qty, notional=notional, status=OrderStatus.FILLED, filled_qty=plan.qty,
        filled_avg_price=plan.price, fee=plan.fee, slippage_bps=plan.slippage_bps, index_price=plan.index_price,
        price_source=prepared.quote.source_label, request_hash=command.digest, created_at=now, filled_at=now,
    )  # fmt: skip
    fill = Fill(
        id=uuid.uuid4(), order=order, user=user, symbol=symbol, side=plan.side, qty=plan.qty, price=plan.price,
        notional=plan.notional, fee=plan.fee, created_at=now,
    )  # fmt: skip
    try:
        result = _call(command, prepared, order, fill, asset)
    except IntegrityError:  # a concurrent duplicate won the unique index
        row = command.replay()
        if row is None:
            raise
        return row, True
    outcome = result["outcome"]
    if outcome == "filled":
        order.epoch, fill.ledger_txn_id = result["epoch"], result["txn_id"]
        for saved in (order, fill):  # as if read back: saved rows, not new ones
            saved._state.adding, saved._state.db = False, connection.alias
        group = user_group(user.pk)
        publish_many_on_commit([(group, result["fill_event"]), (group, result["portfolio_event"])])
        return order, False
    if outcome == "stored":
        row = command.replay()  # raises the stored rejection
        return (row, True) if row is not None else None
    if outcome == "stale":
        raise price_aged(now - prepared.quote.computed_at + result["waited"])
    if outcome == "insufficient":
        extra = {"asset": result["asset"], "available": result["available"], "required": result["required"]}
        raise command.reject(InsufficientFunds(extra=extra))
    return None  # no_books


def _call(command: Command[Order], prepared: Prepared[Execution], order: Order, fill: Fill, asset: str) -> dict:
    """The one statement, in a transaction of its own: BEGIN, the call, COMMIT. The commit stays
    ours (not the statement's, as in autocommit): a web process that dies while the call waits for
    a lock commits nothing (tests/proof/test_faults.py). Inside a caller's transaction (tests, a
    nested use) it is a savepoint, so an error leaves that transaction usable."""
    plan, quote = prepared.plan, prepared.quote
    fill_data = json.dumps(jsonable(order_fill_data(order, fill)), separators=(",", ":"))
    params: list[Any] = [
        command.user.pk, command.client_order_id, command.digest, order.id, fill.id,
        order.symbol, asset, plan.side, order.type, order.qty, order.notional,
        plan.qty, plan.price, plan.notional, plan.fee, plan.cash_delta, plan.slippage_bps, plan.index_price,
        order.price_source, f"{plan.side} {plan.qty} {asset} @ {plan.price}",
        order.created_at, order.created_at - quote.computed_at, timedelta(seconds=settings.PRICE_STALE_SECONDS),
        f"{settings.TRADING_LOCK_TIMEOUT_MS}ms", system_shard(command.user.pk, settings.LEDGER_SYSTEM_SHARDS),
        fill_data, iso_utc(order.created_at),
    ]  # fmt: skip
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_CALL, params)
            names = [column.name for column in cursor.description]
            return dict(zip(names, cursor.fetchone(), strict=True))
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise LockWaitTimeout(extra={"lock_timeout_ms": settings.TRADING_LOCK_TIMEOUT_MS}) from None
        raise
