"""The liquidation batch's statements (``trading.services.liquidation_batch`` is the algorithm).

Each step is written twice, side by side: for PostgreSQL, one statement whatever the batch size
(a set of ids or of rows travels as one json parameter, ``core.pgrows``), and its twin for SQLite
(embedded mode) through the ORM. ``batch_statements()`` picks the set for the connection's
database; both sets take and answer the same things, so the algorithm is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import F

from core.pgrows import json_param, rows_sql, values_sql
from portfolio.models import Asset, Balance, LedgerAccount, SpotHolding
from trading.margin import is_crossed
from trading.models import (
    POSITION_TRANSITIONS,
    Position,
    PositionEvent,
    PositionEventKind,
    PositionSide,
    PositionStatus,
)
from trading.services.position_book import position_transition

_LIQUIDATABLE = [status for status, targets in POSITION_TRANSITIONS.items() if PositionStatus.LIQUIDATED in targets]


# --- the owners' ledger accounts (read before any lock) -------------------------------------

_ACCOUNT_FIELDS = ["id", "kind", "code", "user_id", "epoch"]
_UUIDS, _BIGINTS = values_sql("uuid"), values_sql("bigint")


def _owners_get_pg(*, ids: list) -> dict[int, LedgerAccount]:
    """``id IN (<the ids>)``, a join: it probes the primary key once per id (~3 ms a batch; with
    ``id = ANY(<array of a thousand>)`` the planner expected scattered pages and scanned the whole
    positions table, ~20 ms). ``created_at`` is left deferred."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_ACCOUNT_FIELDS)} FROM {LedgerAccount._meta.db_table} WHERE id IN (SELECT account_id "
            f"FROM {Position._meta.db_table} WHERE id IN {_UUIDS} AND status = ANY(%s::text[]))",
            [json_param(ids), _LIQUIDATABLE],
        )
        accounts = [LedgerAccount.from_db(connection.alias, _ACCOUNT_FIELDS, row) for row in cursor.fetchall()]
    return {account.pk: account for account in accounts}


def _owners_get_orm(*, ids: list) -> dict[int, LedgerAccount]:
    owners = Position.objects.filter(pk__in=ids, status__in=_LIQUIDATABLE).values("account_id")
    return {account.pk: account for account in LedgerAccount.objects.filter(pk__in=owners)}


# --- lock the owners' USD balance rows (the global lock order: balances, then positions) ----


def _owners_lock_pg(*, account_ids: list[int]) -> None:
    """One statement, in id order; nothing is read back (the ledger locks and reads them again)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id FROM {Balance._meta.db_table} b WHERE b.account_id IN {_BIGINTS} "
            "AND b.asset = %s AND b.shard = 0 ORDER BY b.id FOR UPDATE",
            [json_param(account_ids), Asset.USD],
        )


def _owners_lock_orm(*, account_ids: list[int]) -> None:
    rows = Balance.objects.select_for_update(of=("self",)).filter(account_id__in=account_ids, asset=Asset.USD, shard=0)
    list(rows.order_by("pk").values_list("pk", flat=True))


# --- open -> liquidated for the positions still open and crossed ----------------------------


class Liquidated(NamedTuple):
    """A position as the transition ``UPDATE`` returns it: what the batch reads. ``id`` comes back
    as text (only ever used as text: references, payloads, parameters); ``closed_at`` is the
    batch's ``now``, set by the statement, so it is not read back."""

    id: str
    user_id: int
    account_id: int
    client_order_id: str
    symbol: str
    side: str
    status: str
    qty: Decimal
    margin: Decimal
    leverage: Decimal
    entry_price: Decimal
    liquidation_price: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    exit_price: Decimal
    opened_at: datetime
    funding_accrued: Decimal
    closed_at: datetime


_RETURNED = ", ".join(["id::text", *Liquidated._fields[1:-1]])


def _transition_pg(
    *, ids: list, price: Decimal, now: datetime, before: datetime | None, symbols: list[str]
) -> list[Liquidated]:
    """ONE statement: it takes each row lock and, under READ COMMITTED, re-evaluates the condition
    on the latest row version, so a close or an increase that committed first makes the row drop
    out. The statuses come from the transition table (``POSITION_TRANSITIONS``); only positions of
    the tick's markets (``symbols``) qualify."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Position._meta.db_table} SET status = %s, closed_at = %s, updated_at = %s, exit_price = %s, "
            "realized_pnl = realized_pnl - margin, take_profit_price = NULL, stop_loss_price = NULL "
            f"WHERE id IN {_UUIDS} AND status = ANY(%s::text[]) AND symbol = ANY(%s::text[]) "
            "AND ((side = %s AND liquidation_price >= %s) OR (side = %s AND liquidation_price <= %s)) "
            "AND (%s::timestamptz IS NULL OR updated_at <= %s::timestamptz) "
            f"RETURNING {_RETURNED}",
            [
                PositionStatus.LIQUIDATED,
                now,
                now,
                price,
                json_param(ids),
                _LIQUIDATABLE,
                symbols,
                PositionSide.LONG,
                price,
                PositionSide.SHORT,
                price,
                before,
                before,
            ],
        )
        # The canonical text of a UUID (fixed width, lowercase hex) sorts as its number does.
        return sorted((Liquidated._make((*row, now)) for row in cursor.fetchall()), key=lambda p: p.id)


def _transition_orm(
    *, ids: list, price: Decimal, now: datetime, before: datetime | None, symbols: list[str]
) -> list[Position]:
    """Lock, re-check in Python, take the transition through ``position_transition``, one update."""
    locked = Position.objects.select_for_update(of=("self",)).filter(
        pk__in=ids, status__in=_LIQUIDATABLE, symbol__in=symbols
    )
    if before is not None:
        locked = locked.filter(updated_at__lte=before)
    crossed = [p for p in locked.order_by("pk") if is_crossed(p.side, p.liquidation_price, price)]
    for position in crossed:
        position_transition(position, PositionStatus.LIQUIDATED)
        position.closed_at = position.updated_at = now
        position.exit_price = price
        position.realized_pnl -= position.margin
        position.take_profit_price = position.stop_loss_price = None
    Position.objects.filter(pk__in=[p.pk for p in crossed]).update(
        status=PositionStatus.LIQUIDATED,
        closed_at=now,
        updated_at=now,
        exit_price=price,
        realized_pnl=F("realized_pnl") - F("margin"),
        take_profit_price=None,
        stop_loss_price=None,
    )
    return crossed


# --- the history rows: one ``PositionEvent`` (kind ``liquidation``) per position ------------

_HISTORY = rows_sql(
    "e",
    position_id="uuid",
    qty="numeric",
    margin="numeric",
    realized_pnl="numeric",
    insurance="numeric",
    liquidation_price="numeric",
    ledger_txn_id="bigint",
)


def _history_insert_pg(*, rows: list[tuple], price: Decimal, computed_at, now: datetime) -> None:
    """One ``INSERT ... SELECT`` of the ``rows``: ``(position_id, qty, margin, realized_pnl,
    insurance, liquidation_price, ledger_txn_id)``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PositionEvent._meta.db_table} (position_id, kind, qty, price, index_price, margin, fee, "
            "realized_pnl, insurance, liquidation_price, price_computed_at, ledger_txn_id, created_at) "
            "SELECT e.position_id, %s, e.qty, %s, %s, e.margin, 0, e.realized_pnl, e.insurance, e.liquidation_price, "
            f"%s, e.ledger_txn_id, %s FROM {_HISTORY}",
            [PositionEventKind.LIQUIDATION, price, price, computed_at, now, json_param(rows)],
        )


def _history_insert_orm(*, rows: list[tuple], price: Decimal, computed_at, now: datetime) -> None:
    PositionEvent.objects.bulk_create(
        [
            PositionEvent(
                position_id=position_id,
                kind=PositionEventKind.LIQUIDATION,
                qty=qty,
                price=price,
                index_price=price,
                margin=margin,
                realized_pnl=realized_pnl,
                insurance=insurance,
                liquidation_price=liquidation_price,
                price_computed_at=computed_at,
                ledger_txn_id=txn_id,
                created_at=now,
            )
            for position_id, qty, margin, realized_pnl, insurance, liquidation_price, txn_id in rows
        ]
    )


# --- the owners' books for their ``portfolio_update`` (read inside the batch) ----------------


_BALANCE_FIELDS = "account_id, asset, total, locked"
_HOLDING_FIELDS = "account_id, asset, qty, cost_basis, realized_pnl, fees_paid"


def _books_get_pg(*, account_ids: list[int]) -> tuple[list[tuple], list[tuple]]:
    """The balance rows ``(account_id, asset, total, locked)`` and the spot books ``(account_id,
    asset, qty, cost_basis, realized_pnl, fees_paid)`` of ``account_ids``: plain rows, no model
    instances, no 1,000-parameter ``IN`` list."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_BALANCE_FIELDS} FROM {Balance._meta.db_table} WHERE account_id IN {_BIGINTS}",
            [json_param(account_ids)],
        )
        balances = cursor.fetchall()
        cursor.execute(
            f"SELECT {_HOLDING_FIELDS} FROM {SpotHolding._meta.db_table} WHERE account_id IN {_BIGINTS} "
            "ORDER BY account_id, asset",
            [json_param(account_ids)],
        )
        return balances, cursor.fetchall()


def _books_get_orm(*, account_ids: list[int]) -> tuple[list[tuple], list[tuple]]:
    balances = Balance.objects.filter(account_id__in=account_ids).values_list(*_BALANCE_FIELDS.split(", "))
    holdings = (
        SpotHolding.objects.filter(account_id__in=account_ids)
        .order_by("account_id", "asset")
        .values_list(*_HOLDING_FIELDS.split(", "))
    )
    return list(balances), list(holdings)


# --- the two sets --------------------------------------------------------------------------


class BatchStatements(NamedTuple):
    owners_get: Callable[..., dict[int, LedgerAccount]]
    owners_lock: Callable[..., None]
    transition: Callable[..., list]
    history_insert: Callable[..., None]
    books_get: Callable[..., tuple[list[tuple], list[tuple]]]


POSTGRES = BatchStatements(_owners_get_pg, _owners_lock_pg, _transition_pg, _history_insert_pg, _books_get_pg)
PORTABLE = BatchStatements(_owners_get_orm, _owners_lock_orm, _transition_orm, _history_insert_orm, _books_get_orm)


def batch_statements() -> BatchStatements:
    """The statements for this connection's database: PostgreSQL's, or the ORM twins (SQLite)."""
    return POSTGRES if connection.vendor == "postgresql" else PORTABLE
