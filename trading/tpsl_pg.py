"""The TP/SL close batch's statements (``trading.services.tpsl_batch`` is the algorithm).

Each step is written twice, side by side: for PostgreSQL, one statement whatever the batch size
(a set of ids or of rows travels as one json parameter, ``core.pgrows``), and its twin for SQLite
(embedded mode) through the ORM. ``tpsl_statements()`` picks the set for the connection's
database; both sets take and answer the same things, so the algorithm is written once. Locking
the owners' USD rows and reading their books for ``portfolio_update`` are the liquidation
batch's statements (``trading.pg``), reused as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from core.pgrows import json_param, rows_sql, values_sql
from portfolio.models import LedgerAccount
from trading.models import Position, PositionEvent, PositionEventKind, PositionOrder, PositionOrderAction, PositionSide
from trading.models import PositionStatus as Status
from trading.pg import PORTABLE, POSTGRES, BatchStatements
from trading.services.position_book import position_transition
from trading.tpsl import FIELDS, TAKE_PROFIT, fires

_P, _E, _O = Position._meta.db_table, PositionEvent._meta.db_table, PositionOrder._meta.db_table
_A = LedgerAccount._meta.db_table
_UUIDS = values_sql("uuid")


class Held(NamedTuple):
    """An open candidate as read before any lock: what its close is planned from."""

    id: str
    user_id: int
    account_id: int
    symbol: str
    side: str
    qty: Decimal
    margin: Decimal
    entry_price: Decimal


# --- the candidates and their owners' ledger accounts (read before any lock) -----------------

_HELD = "p.id::text, p.user_id, p.account_id, p.symbol, p.side, p.qty, p.margin, p.entry_price"
_ACCOUNT_FIELDS = ["id", "kind", "code", "user_id", "epoch"]


def _held_get_pg(*, ids: list) -> tuple[list[Held], dict[int, LedgerAccount]]:
    """ONE statement: the open positions of ``ids`` joined with their accounts, in (user, id) order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_HELD}, {', '.join('a.' + name for name in _ACCOUNT_FIELDS)} FROM {_P} p "
            f"JOIN {_A} a ON a.id = p.account_id WHERE p.id IN {_UUIDS} AND p.status = %s "
            "ORDER BY p.user_id, p.id",
            [json_param(ids), Status.OPEN],
        )
        rows = cursor.fetchall()
    width = len(Held._fields)
    accounts = {
        row[width]: LedgerAccount.from_db(connection.alias, _ACCOUNT_FIELDS, row[width:]) for row in rows
    }  # fmt: skip
    return [Held._make(row[:width]) for row in rows], accounts


def _held_get_orm(*, ids: list) -> tuple[list[Held], dict[int, LedgerAccount]]:
    rows = Position.objects.filter(pk__in=ids, status=Status.OPEN).order_by("user_id", "pk")
    held = [Held(str(pk), *rest) for pk, *rest in rows.values_list("pk", *Held._fields[1:])]
    accounts = LedgerAccount.objects.filter(pk__in={h.account_id for h in held})
    return held, {account.pk: account for account in accounts}


# --- open -> closed for the positions whose trigger still fires, as planned -----------------


class Closed(NamedTuple):
    """A position as the close ``UPDATE`` returns it: what the batch reads (``position_data``'s
    attributes, ``kind``: the trigger that fired). ``closed_at`` is the batch's ``now``."""

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
    kind: str
    closed_at: datetime


_RETURNED = ", ".join(["p.id::text", *(f"p.{name}" for name in Closed._fields[1:-2]), "r.kind"])
_PLANNED = rows_sql(
    "r", id="uuid", kind="text", side="text", qty="numeric", margin="numeric", entry_price="numeric",
    exit_price="numeric", pnl="numeric", fee="numeric",
)  # fmt: skip


def _transition_pg(
    *, rows: list[tuple], price: Decimal, now: datetime, before: datetime, symbols: list[str]
) -> list[Closed]:
    """ONE statement: the row lock and the re-check of each trigger (still open, of the tick's
    markets, unchanged since the tick and as planned, its price still set and crossed). Under READ
    COMMITTED a row whose close, edit or other engine run committed first is re-evaluated on its
    latest version and drops out. ``rows``: ``(id, kind, side, qty, margin, entry_price,
    exit_price, pnl, fee)``, planned from the ``Held`` read."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_P} p SET status = %s, closed_at = %s, updated_at = %s, exit_price = r.exit_price, "
            "realized_pnl = p.realized_pnl + r.pnl, fees_paid = p.fees_paid + r.fee, "
            f"take_profit_price = NULL, stop_loss_price = NULL FROM {_PLANNED} "
            "WHERE p.id = r.id AND p.status = %s AND p.symbol = ANY(%s::text[]) AND p.updated_at <= %s "
            "AND p.side = r.side AND p.qty = r.qty AND p.margin = r.margin AND p.entry_price = r.entry_price "
            "AND CASE WHEN r.kind = %s THEN CASE WHEN p.side = %s THEN p.take_profit_price <= %s "
            "ELSE p.take_profit_price >= %s END "
            "ELSE CASE WHEN p.side = %s THEN p.stop_loss_price >= %s ELSE p.stop_loss_price <= %s END END "
            f"RETURNING {_RETURNED}",
            [Status.CLOSED, now, now, json_param(rows), Status.OPEN, symbols, before,
             TAKE_PROFIT, PositionSide.LONG, price, price, PositionSide.LONG, price, price],
        )  # fmt: skip
        closed = [Closed._make((*row, now)) for row in cursor.fetchall()]
    return sorted(closed, key=lambda p: (p.user_id, p.id))


def _transition_orm(
    *, rows: list[tuple], price: Decimal, now: datetime, before: datetime, symbols: list[str]
) -> list[Closed]:
    """Lock, re-check in Python (``trading.tpsl.fires``), take the transition through
    ``position_transition``, write each row."""
    planned = {str(row[0]): row for row in rows}
    locked = Position.objects.select_for_update(of=("self",)).filter(
        pk__in=list(planned), status=Status.OPEN, symbol__in=symbols, updated_at__lte=before
    )
    out: list[Closed] = []
    for position in locked.order_by("user_id", "pk"):
        _id, kind, side, qty, margin, entry, exit_price, pnl, fee = planned[str(position.pk)]
        if (position.side, position.qty, position.margin, position.entry_price) != (side, qty, margin, entry):
            continue
        if not fires(kind, side=side, trigger_price=getattr(position, FIELDS[kind]), price=price):
            continue
        position_transition(position, Status.CLOSED)
        position.closed_at = position.updated_at = now
        position.exit_price = exit_price
        position.realized_pnl += pnl
        position.fees_paid += fee
        position.take_profit_price = position.stop_loss_price = None
        position.save(update_fields=["status", "closed_at", "updated_at", "exit_price", "realized_pnl", "fees_paid",
                                     "take_profit_price", "stop_loss_price"])  # fmt: skip
        values = {name: getattr(position, name) for name in Closed._fields[1:-2]}
        out.append(Closed(id=str(position.pk), kind=kind, closed_at=now, **values))
    return out


# --- the history rows and the orders' records (one of each per position) --------------------

_RECORD_COLUMNS = {
    "position_id": "uuid", "qty": "numeric", "price": "numeric", "margin": "numeric", "fee": "numeric",
    "realized_pnl": "numeric", "insurance": "numeric", "liquidation_price": "numeric", "reason": "text",
    "ledger_txn_id": "bigint", "order_id": "uuid", "user_id": "bigint", "client_order_id": "text",
    "request_hash": "text", "symbol": "text", "side": "text",
}  # fmt: skip
_RECORDS = rows_sql("x", **_RECORD_COLUMNS)


def _records_insert_pg(*, rows: list[tuple], index_price: Decimal, computed_at: datetime, now: datetime) -> None:
    """ONE statement: the ``close`` history rows (``PositionEvent``) and, linked to them, the
    ``PositionOrder`` records. ``rows``: ``_RECORD_COLUMNS`` in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH r AS (SELECT * FROM {_RECORDS}), ev AS ("
            f"INSERT INTO {_E} (position_id, kind, qty, price, index_price, margin, fee, realized_pnl, insurance, "
            "liquidation_price, price_computed_at, reason, ledger_txn_id, created_at) "
            "SELECT r.position_id, %s, r.qty, r.price, %s, r.margin, r.fee, r.realized_pnl, r.insurance, "
            "r.liquidation_price, %s, r.reason, r.ledger_txn_id, %s FROM r RETURNING id, position_id) "
            f"INSERT INTO {_O} (id, user_id, client_order_id, request_hash, symbol, side, action, qty, price, "
            "index_price, fee, realized_pnl, position_id, event_id, created_by_id, created_at) "
            "SELECT r.order_id, r.user_id, r.client_order_id, r.request_hash, r.symbol, r.side, %s, r.qty, r.price, "
            "%s, r.fee, r.realized_pnl, r.position_id, ev.id, NULL, %s "
            "FROM r JOIN ev ON ev.position_id = r.position_id",
            [json_param(rows), PositionEventKind.CLOSE, index_price, computed_at, now, PositionOrderAction.CLOSE,
             index_price, now],
        )  # fmt: skip


def _records_insert_orm(*, rows: list[tuple], index_price: Decimal, computed_at: datetime, now: datetime) -> None:
    named = [dict(zip(_RECORD_COLUMNS, row, strict=True)) for row in rows]
    events = PositionEvent.objects.bulk_create(
        [
            PositionEvent(
                position_id=r["position_id"],
                kind=PositionEventKind.CLOSE,
                qty=r["qty"],
                price=r["price"],
                index_price=index_price,
                margin=r["margin"],
                fee=r["fee"],
                realized_pnl=r["realized_pnl"],
                insurance=r["insurance"],
                liquidation_price=r["liquidation_price"],
                price_computed_at=computed_at,
                reason=r["reason"],
                ledger_txn_id=r["ledger_txn_id"],
                created_at=now,
            )  # fmt: skip
            for r in named
        ]
    )
    PositionOrder.objects.bulk_create(
        [
            PositionOrder(
                id=r["order_id"],
                user_id=r["user_id"],
                client_order_id=r["client_order_id"],
                request_hash=r["request_hash"],
                symbol=r["symbol"],
                side=r["side"],
                action=PositionOrderAction.CLOSE,
                qty=r["qty"],
                price=r["price"],
                index_price=index_price,
                fee=r["fee"],
                realized_pnl=r["realized_pnl"],
                position_id=r["position_id"],
                event_id=event.pk,
                created_at=now,
            )  # fmt: skip
            for r, event in zip(named, events, strict=True)
        ]
    )


# --- the two sets --------------------------------------------------------------------------


class TpslStatements(NamedTuple):
    held_get: Callable[..., tuple[list[Held], dict[int, LedgerAccount]]]
    transition: Callable[..., list[Closed]]
    records_insert: Callable[..., None]
    shared: BatchStatements  # the liquidation batch's: ``owners_lock``, ``books_get``


POSTGRES_TPSL = TpslStatements(_held_get_pg, _transition_pg, _records_insert_pg, POSTGRES)
PORTABLE_TPSL = TpslStatements(_held_get_orm, _transition_orm, _records_insert_orm, PORTABLE)


def tpsl_statements() -> TpslStatements:
    """The statements for this connection's database: PostgreSQL's, or the ORM twins (SQLite)."""
    return POSTGRES_TPSL if connection.vendor == "postgresql" else PORTABLE_TPSL
