"""The ledger's statements (``portfolio.services.ledger`` is the algorithm).

Each step is written twice, side by side: for PostgreSQL, one statement whatever the number of
rows (the rows travel as one json parameter, ``core.pgrows``), and its twin for SQLite (embedded
mode) through the ORM. ``ledger_statements()`` picks the set for the connection's database; both
take and answer the same plain rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.pgrows import json_param, rows_sql
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerReason, LedgerTransaction

if TYPE_CHECKING:
    from accounts.models import User

Key = tuple[int, str, int]  # a balance row: ``(account_id, asset, shard)``
Deltas = dict[Key, tuple[Decimal, Decimal]]  # ``(d_total, d_locked)`` summed per balance row
LockedRow = tuple[int, Decimal, Decimal, bool]  # ``(id, total, locked, allow_negative)``
TxnRow = tuple[str, str, str, str]  # ``(reason, reference_type, reference_id, memo)``
EntryRow = tuple[int, int, str, str, Decimal]  # ``(txn_id, account_id, asset, bucket, amount)``


# --- lock (creating when missing) the balance rows, in the lock order -----------------------


_KEYS = rows_sql("k", account_id="bigint", asset="text", shard="int")
_NEW_KEYS = rows_sql("k", account_id="bigint", asset="text", shard="int", allow_negative="boolean")


def _balances_lock_pg(wanted: dict[Key, LedgerAccount], *, light: bool = False) -> dict[Key, Any]:
    """One statement whatever the number of rows, users' rows before the system rows (sorted by
    ``allow_negative``), each by id. ``updated_at`` is left deferred (never read from a locked row;
    parsing it costs more than the rest). ``light``: ``LockedRow`` tuples instead of ``Balance``
    instances (the batch path)."""
    table = Balance._meta.db_table
    fields = ["id", "account_id", "asset", "shard", "total", "locked", "allow_negative"]
    keys = [json_param(wanted)]
    select = (
        f"SELECT {', '.join('b.' + name for name in fields)} FROM {table} b "
        f"JOIN {_KEYS} ON b.account_id = k.account_id AND b.asset = k.asset AND b.shard = k.shard "
        "ORDER BY b.allow_negative, b.id FOR UPDATE OF b"  # user rows, then system rows: the lock order
    )
    connection = transaction.get_connection()

    def fetch() -> dict[Key, Any]:
        if light:
            return {(a, asset, shard): (i, total, locked, neg) for i, a, asset, shard, total, locked, neg in cursor}
        rows = (Balance.from_db(connection.alias, fields, values) for values in cursor.fetchall())
        return {(b.account_id, b.asset, b.shard): b for b in rows}

    with connection.cursor() as cursor:
        cursor.execute(select, keys)
        rows = fetch()
        missing = [key for key in wanted if key not in rows]
        if missing:  # a system shard's first use (user rows exist from account_open)
            cursor.execute(
                f"INSERT INTO {table} (account_id, asset, shard, total, locked, allow_negative, updated_at) "
                f"SELECT k.account_id, k.asset, k.shard, 0, 0, k.allow_negative, %s FROM {_NEW_KEYS} "
                "ON CONFLICT (account_id, asset, shard) DO NOTHING",
                [timezone.now(), json_param((*key, wanted[key].is_system) for key in missing)],
            )
            cursor.execute(select, keys)
            rows = fetch()
    return rows


def _balances_lock_orm(wanted: dict[Key, LedgerAccount], *, light: bool = False) -> dict[Key, Any]:
    """``select_for_update`` ordered by ``allow_negative, pk`` (SQLite's ``BEGIN IMMEDIATE``
    serialises writers anyway; the order is kept so both read the same)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for account_id, asset, shard in wanted:
        groups.setdefault((asset, shard), []).append(account_id)
    condition = Q()
    for (asset, shard), account_ids in groups.items():  # one term per (asset, shard): cheap for big batches
        condition |= Q(asset=asset, shard=shard, account_id__in=sorted(account_ids))

    def fetch() -> dict[Key, Any]:
        locked = Balance.objects.select_for_update(of=("self",)).filter(condition).order_by("allow_negative", "pk")
        if light:
            return {(b.account_id, b.asset, b.shard): (b.id, b.total, b.locked, b.allow_negative) for b in locked}
        return {(b.account_id, b.asset, b.shard): b for b in locked}

    rows = fetch()
    missing = [key for key in wanted if key not in rows]
    if missing:
        Balance.objects.bulk_create(
            [
                Balance(account_id=a, asset=asset, shard=s, allow_negative=wanted[(a, asset, s)].is_system)
                for a, asset, s in missing
            ],
            ignore_conflicts=True,
        )
        rows = fetch()
    return rows


# --- add the (already checked) deltas to the locked rows ------------------------------------


_DELTAS = rows_sql("d", id="bigint", total="numeric", locked="numeric")


def _balances_add_pg(rows: dict[Key, LockedRow], deltas: Deltas, now: datetime) -> None:
    """One ``UPDATE ... FROM`` the deltas' rows: deltas, not absolute values (the CHECK
    constraints stay the last line of defence). The ids again as an array: the planner then
    probes the primary key for a few rows; with the json rows alone (estimated at 100) it
    hash-joined them to a scan of every balance row (~3.5 ms at 20,000 rows for a one-order
    posting: a cancel, a limit order's hold)."""
    ids = [rows[key][0] for key in deltas]
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"UPDATE {Balance._meta.db_table} AS b "
            f"SET total = b.total + d.total, locked = b.locked + d.locked, updated_at = %s FROM {_DELTAS} "
            "WHERE b.id = d.id AND b.id = ANY(%s::bigint[])",
            [now, json_param((rows[key][0], d_total, d_locked) for key, (d_total, d_locked) in deltas.items()), ids],
        )


def _balances_add_orm(rows: dict[Key, LockedRow], deltas: Deltas, now: datetime) -> None:
    """The new values computed in Decimal (SQLite's arithmetic on decimals is a float's), one
    ``bulk_update``."""
    changed = []
    for key, (d_total, d_locked) in deltas.items():
        row_id, total, locked, _allow_negative = rows[key]
        changed.append(Balance(id=row_id, total=total + d_total, locked=locked + d_locked, updated_at=now))
    Balance.objects.bulk_update(changed, ["total", "locked", "updated_at"])


# --- the transactions: their ids in the postings' order -------------------------------------


_TRANSACTIONS = rows_sql("t", reason="text", reference_type="text", reference_id="text", memo="text", ord="int")


def _transactions_insert_pg(txns: list[TxnRow], created_by: User | None, now: datetime) -> list[int]:
    """The ids are drawn with ``nextval`` in a materialised CTE next to each row's position, so the
    mapping never depends on the order ``RETURNING`` happens to produce. The sequence's name is
    looked up once per statement (a scalar subquery), not once per row (~4 us a row)."""
    table = LedgerTransaction._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"WITH src AS MATERIALIZED (SELECT nextval((SELECT pg_get_serial_sequence('{table}', 'id'))::regclass) "
            f"AS id, t.* FROM {_TRANSACTIONS}), "
            f"ins AS (INSERT INTO {table} (id, reason, reference_type, reference_id, memo, created_by_id, created_at) "
            "SELECT id, reason, reference_type, reference_id, memo, %s, %s FROM src) "
            "SELECT id FROM src ORDER BY ord",
            [
                json_param((*txn, n) for n, txn in enumerate(txns)),
                created_by.pk if created_by is not None else None,
                now,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _transactions_insert_orm(txns: list[TxnRow], created_by: User | None, now: datetime) -> list[int]:
    created_by_id = created_by.pk if created_by is not None else None
    created = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                reason=reason,
                reference_type=reference_type,
                reference_id=reference_id,
                memo=memo,
                created_by_id=created_by_id,
                created_at=now,
            )
            for reason, reference_type, reference_id, memo in txns
        ]
    )
    return [txn.pk for txn in created]


# --- the entries ----------------------------------------------------------------------------


_ENTRIES = rows_sql("e", txn_id="bigint", account_id="bigint", asset="text", bucket="text", amount="numeric")


def _entries_insert_pg(entries: list[EntryRow], now: datetime) -> None:
    """One ``INSERT ... SELECT``."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LedgerEntry._meta.db_table} (txn_id, account_id, asset, bucket, amount, created_at) "
            f"SELECT e.txn_id, e.account_id, e.asset, e.bucket, e.amount, %s FROM {_ENTRIES}",
            [now, json_param(entries)],
        )


def _entries_insert_orm(entries: list[EntryRow], now: datetime) -> None:
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(txn_id=txn_id, account_id=account_id, asset=asset, bucket=bucket, amount=amount, created_at=now)
            for txn_id, account_id, asset, bucket, amount in entries
        ]
    )


# --- spot trades: transactions, entries and balances in one statement -----------------------

# ``(n, account_id, asset, held_asset, held, qty, cash, notional, fee, reference_id, memo)``: one
# spot trade (``portfolio.services.trade_postings``), ``qty`` and ``notional`` signed as the
# trader's side of them (+ for a buy), ``cash`` the trader's USD change.
TradeRow = tuple[int, int, str, str, Decimal, Decimal, Decimal, Decimal, Decimal, str, str]
BalanceDelta = tuple[int, Decimal, Decimal, Decimal, Decimal]  # a locked row ``(id, total, locked, d_total, d_locked)``

_TRADES = rows_sql(
    "t", n="int", account_id="bigint", asset="text", held_asset="text", held="numeric", qty="numeric",
    cash="numeric", notional="numeric", fee="numeric", reference_id="text", memo="text",
)  # fmt: skip

# A trade's legs, in the one-order path's order (``trading.services.spot_fill``: ``release_legs``
# then ``trade_legs``): ``(k, account, asset, bucket, amount)``; ``%s`` are the house and fees
# account ids and the buckets. Per asset they sum to zero by construction (``cash`` is
# ``-(notional + fee)`` signed: the trader's USD), so the statement needs no balance check.
_LEGS = (
    "(VALUES (1, t.account_id, t.held_asset, %(locked)s, -t.held), (2, t.account_id, t.held_asset, %(free)s, t.held), "
    "(3, t.account_id, t.asset, %(free)s, t.qty), (4, %(house)s::bigint, t.asset, %(free)s, -t.qty), "
    "(5, t.account_id, %(usd)s, %(free)s, t.cash), (6, %(house)s::bigint, %(usd)s, %(free)s, t.notional), "
    "(7, %(fees)s::bigint, %(usd)s, %(free)s, t.fee)) AS l(k, account_id, asset, bucket, amount)"
)


def _trades_post_pg(
    *, rows: list[TradeRow], house_id: int, fees_id: int, balances: list[BalanceDelta], now: datetime
) -> list[int]:
    """ONE statement: the transactions (ids drawn in the rows' order, as ``_transactions_insert_pg``
    draws them), their entries built from each row by the legs' template (zero legs left out,
    in the legs' order), and the balances' (already checked) deltas added. The transactions' ids,
    in the rows' order."""
    txns, entries = LedgerTransaction._meta.db_table, LedgerEntry._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"WITH src AS MATERIALIZED (SELECT nextval((SELECT pg_get_serial_sequence('{txns}', 'id'))::regclass) "
            f"AS txn_id, t.* FROM {_TRADES.replace('%s', '%(rows)s')}), "
            f"ins AS (INSERT INTO {txns} (id, reason, reference_type, reference_id, memo, created_by_id, created_at) "
            "SELECT txn_id, %(reason)s, %(reference_type)s, reference_id, memo, NULL, %(now)s FROM src), "
            f"legs AS (INSERT INTO {entries} (txn_id, account_id, asset, bucket, amount, created_at) "
            "SELECT t.txn_id, l.account_id, l.asset, l.bucket, l.amount, %(now)s "
            f"FROM src t CROSS JOIN LATERAL {_LEGS} WHERE l.amount <> 0 ORDER BY t.n, l.k), "
            f"bal AS (UPDATE {Balance._meta.db_table} AS b SET total = b.total + d.total, "
            f"locked = b.locked + d.locked, updated_at = %(now)s FROM {_DELTAS.replace('%s', '%(deltas)s')} "
            "WHERE b.id = d.id AND b.id = ANY(%(ids)s::bigint[])) "
            "SELECT txn_id FROM src ORDER BY n",
            {
                "rows": json_param(rows), "reason": LedgerReason.TRADE.value, "reference_type": "order", "now": now,
                "locked": Bucket.LOCKED.value, "free": Bucket.FREE.value, "usd": Asset.USD.value,
                "house": house_id, "fees": fees_id, "deltas": json_param((i, dt, dl) for i, _t, _l, dt, dl in balances),
                "ids": [b[0] for b in balances],
            },
        )  # fmt: skip
        return [row[0] for row in cursor.fetchall()]


def _trades_post_orm(
    *, rows: list[TradeRow], house_id: int, fees_id: int, balances: list[BalanceDelta], now: datetime
) -> list[int]:
    """The same rows through the ORM twins: the legs' template expanded here."""
    txn_ids = _transactions_insert_orm(
        [(LedgerReason.TRADE.value, "order", reference_id, memo) for *_r, reference_id, memo in rows], None, now
    )
    free, locked, usd = Bucket.FREE.value, Bucket.LOCKED.value, Asset.USD.value
    entries: list[EntryRow] = []
    for txn_id, (_n, account, asset, held_asset, held, qty, cash, notional, fee, _ref, _memo) in zip(
        txn_ids, rows, strict=True
    ):
        legs = [(account, held_asset, locked, -held), (account, held_asset, free, held), (account, asset, free, qty),
                (house_id, asset, free, -qty), (account, usd, free, cash), (house_id, usd, free, notional),
                (fees_id, usd, free, fee)]  # fmt: skip
        entries += [(txn_id, a, asset_, bucket, amount) for a, asset_, bucket, amount in legs if amount]
    _entries_insert_orm(entries, now)
    changed = [Balance(id=i, total=t + dt, locked=lk + dl, updated_at=now) for i, t, lk, dt, dl in balances]
    Balance.objects.bulk_update(changed, ["total", "locked", "updated_at"])  # Decimal sums (``_balances_add_orm``)
    return txn_ids


TRADES_PG, TRADES_ORM = _trades_post_pg, _trades_post_orm  # ``trading.trigger_pg`` puts them in its sets


def trades_statement() -> Callable[..., list[int]]:
    """``trades_post`` for this connection's database: PostgreSQL's, or the ORM twin (SQLite)."""
    return TRADES_PG if transaction.get_connection().vendor == "postgresql" else TRADES_ORM


# --- the two sets --------------------------------------------------------------------------


class LedgerStatements(NamedTuple):
    balances_lock: Callable[..., dict[Key, Any]]  # ``(wanted, *, light=False)``
    balances_add: Callable[[dict[Key, LockedRow], Deltas, datetime], None]
    transactions_insert: Callable[[list[TxnRow], User | None, datetime], list[int]]
    entries_insert: Callable[[list[EntryRow], datetime], None]


POSTGRES = LedgerStatements(_balances_lock_pg, _balances_add_pg, _transactions_insert_pg, _entries_insert_pg)
PORTABLE = LedgerStatements(_balances_lock_orm, _balances_add_orm, _transactions_insert_orm, _entries_insert_orm)


def ledger_statements() -> LedgerStatements:
    """The statements for this connection's database: PostgreSQL's, or the ORM twins (SQLite)."""
    return POSTGRES if transaction.get_connection().vendor == "postgresql" else PORTABLE
