"""The cancel's own two statements (``trading.services.order_end`` is the algorithm): the order's
read with its trader's ledger account, and the claim that ends its row.

A trader's cancel is the hottest command after a market order, and each runs once per request:
on PostgreSQL each is a plain statement whose text is built once per process, its row built with
``Order.from_db`` -- not a queryset compiled per call (a raw queryset maps its columns to the
model's fields, an ``update()`` compiles its WHERE, each time: ~0.4 ms apiece on this VM, as
much as the statements' round trips). The SQLite twin (embedded mode) is the ORM beside it (there
the backend converts the columns' values). ``order_end_statements()`` picks the pair for the
connection's database; both take and answer the same things.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from django.db import connection

from portfolio.models import LedgerAccount
from trading.models import Order

# The order's row with its trader's ledger account (id, epoch): one statement, by primary key.
_WITH_ACCOUNT = (
    "SELECT {columns}, a.id, a.epoch FROM {orders} o JOIN {accounts} a ON a.user_id = o.user_id WHERE o.id = %s"
)


def _account(order: Order, account_id: int, epoch: int) -> LedgerAccount:
    return LedgerAccount(pk=account_id, kind=LedgerAccount.Kind.USER, user_id=order.user_id, epoch=epoch)


@functools.cache
def _read_sql(mine: bool) -> tuple[str, tuple[str, ...]]:
    """The read (``mine``: only the given trader's order), and the order's attribute names in
    ``concrete_fields`` order (what ``from_db`` takes positionally)."""
    quote, fields = connection.ops.quote_name, Order._meta.concrete_fields
    sql = _WITH_ACCOUNT.format(
        columns=", ".join(f"o.{quote(str(f.column))}" for f in fields),
        orders=quote(Order._meta.db_table),
        accounts=quote(LedgerAccount._meta.db_table),
    )
    return (f"{sql} AND o.user_id = %s" if mine else sql), tuple(f.attname for f in fields)


def _read_pg(order_id: UUID, user_id: int | None) -> tuple[Order, LedgerAccount] | None:
    sql, attnames = _read_sql(user_id is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [order_id] if user_id is None else [order_id, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    *columns, account_id, epoch = row
    order = Order.from_db(connection.alias, attnames, columns)
    return order, _account(order, account_id, epoch)


def _read_orm(order_id: UUID, user_id: int | None) -> tuple[Order, LedgerAccount] | None:
    sql = _WITH_ACCOUNT.format(columns="o.*", orders=Order._meta.db_table, accounts=LedgerAccount._meta.db_table)
    sql = sql.replace("a.id, a.epoch", "a.id AS ledger_account_id, a.epoch AS ledger_epoch")
    params = [Order._meta.pk.get_db_prep_value(order_id, connection)]
    if user_id is not None:
        sql, params = f"{sql} AND o.user_id = %s", [*params, user_id]
    found = list(Order.objects.raw(sql, params))
    if not found:
        return None
    columns = vars(found[0])  # the two account columns ride on the order's row
    return found[0], _account(found[0], columns["ledger_account_id"], columns["ledger_epoch"])


class Was(NamedTuple):
    """What the claim re-checks: the row as the read saw it."""

    status: str
    held: Decimal
    triggered_at: datetime | None


@functools.cache
def _claim_sql(triggered: bool) -> str:
    quote = connection.ops.quote_name
    return (
        f"UPDATE {quote(Order._meta.db_table)} SET status = %s, closed_at = %s, held = 0 "
        f"WHERE id = %s AND status = %s AND held = %s AND triggered_at {'= %s' if triggered else 'IS NULL'}"
    )


def _claim_pg(order_id: UUID, *, was: Was, to: str, closed_at: datetime | None) -> bool:
    params = [to, closed_at, order_id, was.status, was.held]
    triggered = was.triggered_at is not None
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(triggered), [*params, was.triggered_at] if triggered else params)
        return cursor.rowcount == 1


def _claim_orm(order_id: UUID, *, was: Was, to: str, closed_at: datetime | None) -> bool:
    still = Order.objects.filter(pk=order_id, status=was.status, held=was.held, triggered_at=was.triggered_at)
    return still.update(status=to, closed_at=closed_at, held=0) == 1


class OrderEndStatements(NamedTuple):
    """``read(order_id, user_id)``: the order (``user_id``'s only, when given) and its trader's
    account, or ``None``. ``claim(order_id, was=, to=, closed_at=)``: end the row (``to``, its
    ``held`` zeroed) if it is still as the read saw it (``was``: status, hold, trigger); ``False``
    when anything else came first."""

    read: Callable[[UUID, int | None], tuple[Order, LedgerAccount] | None]
    claim: Callable[..., bool]


POSTGRES = OrderEndStatements(read=_read_pg, claim=_claim_pg)
PORTABLE = OrderEndStatements(read=_read_orm, claim=_claim_orm)


def order_end_statements() -> OrderEndStatements:
    """The pair for this connection's database."""
    return POSTGRES if connection.vendor == "postgresql" else PORTABLE
