"""The ledger's PostgreSQL statements (``portfolio.services.ledger`` is the algorithm): one
statement per step whatever the number of rows, values as arrays through ``unnest``. The SQLite
(embedded) path stays in the ORM, in ``ledger.py``. ``postings`` are ``ledger.Posting``s (duck-typed
here so this module does not import the algorithm that calls it).
"""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.pgarray import num_array, text_array
from portfolio.models import Balance, LedgerAccount, LedgerEntry, LedgerTransaction


class LockedBalance(namedtuple("LockedBalance", "id account_id asset shard total locked allow_negative")):
    """A locked balance row as ``ledger_post_many`` reads it: plain values, no model instance."""

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


def sql_lock(wanted: dict[tuple[int, str, int], LedgerAccount], *, light: bool = False) -> dict:
    """``balance_lock`` on PostgreSQL: one statement whatever the number of rows. ``updated_at``
    is left deferred (never read from a locked row; parsing it costs more than the rest).
    ``light``: ``LockedBalance`` tuples instead of ``Balance`` instances (the batch path)."""
    table = Balance._meta.db_table
    fields = list(LockedBalance._fields)
    columns = [
        num_array(a for a, _s, _h in wanted),
        text_array(s for _a, s, _h in wanted),
        num_array(h for _a, _s, h in wanted),
    ]
    select = (
        f"SELECT {', '.join('b.' + name for name in fields)} FROM {table} b "
        "JOIN unnest(%s::bigint[], %s::text[], %s::int[]) AS k(account_id, asset, shard) "
        "ON b.account_id = k.account_id AND b.asset = k.asset AND b.shard = k.shard "
        "ORDER BY b.allow_negative, b.id FOR UPDATE OF b"  # user rows, then system rows: the lock order
    )
    connection = transaction.get_connection()

    def fetch() -> dict:
        if light:
            rows = map(LockedBalance._make, cursor.fetchall())
        else:
            rows = (Balance.from_db(connection.alias, fields, values) for values in cursor.fetchall())
        return {(b.account_id, b.asset, b.shard): b for b in rows}

    with connection.cursor() as cursor:
        cursor.execute(select, columns)
        rows = fetch()
        missing = [key for key in wanted if key not in rows]
        if missing:  # a system shard's first use (user rows exist from account_open)
            cursor.execute(
                f"INSERT INTO {table} (account_id, asset, shard, total, locked, allow_negative, updated_at) "
                "SELECT k.account_id, k.asset, k.shard, 0, 0, k.allow_negative, %s "
                "FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::boolean[]) AS k(account_id, asset, shard, "
                "allow_negative) ON CONFLICT (account_id, asset, shard) DO NOTHING",
                [
                    timezone.now(),
                    [a for a, _s, _h in missing],
                    [s for _a, s, _h in missing],
                    [h for _a, _s, h in missing],
                    [wanted[key].is_system for key in missing],
                ],
            )
            cursor.execute(select, columns)
            rows = fetch()
    return rows


def sql_apply(rows: dict[tuple[int, str, int], Balance], deltas: dict, now) -> None:
    """Add the (already checked) deltas to the locked rows: one ``UPDATE ... FROM unnest``."""
    ids, totals, locks = [], [], []
    for key, (d_total, d_locked) in deltas.items():
        ids.append(rows[key].id)
        totals.append(d_total)
        locks.append(d_locked)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"UPDATE {Balance._meta.db_table} AS b "
            "SET total = b.total + d.total, locked = b.locked + d.locked, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS d(id, total, locked) WHERE b.id = d.id",
            [now, num_array(ids), num_array(totals), num_array(locks)],
        )


def sql_insert_transactions(postings: list, created_by, now) -> list[int]:
    """Insert the transactions; their ids in the postings' order.

    The ids are drawn with ``nextval`` in a materialised CTE next to each row's ordinal, so the
    mapping never depends on the order ``RETURNING`` happens to produce. The sequence's name is
    looked up once per statement (a scalar subquery), not once per row (~4 us a row).
    """
    table = LedgerTransaction._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"WITH src AS MATERIALIZED (SELECT nextval((SELECT pg_get_serial_sequence('{table}', 'id'))::regclass) "
            "AS id, t.* "
            "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY "
            "AS t(reason, reference_type, reference_id, memo, ord)), "
            f"ins AS (INSERT INTO {table} (id, reason, reference_type, reference_id, memo, created_by_id, created_at) "
            "SELECT id, reason, reference_type, reference_id, memo, %s, %s FROM src) "
            "SELECT id FROM src ORDER BY ord",
            [
                text_array([p.reason for p in postings]),
                text_array([p.reference_type for p in postings]),
                text_array([str(p.reference_id) for p in postings]),
                text_array([p.memo[:255] for p in postings]),
                getattr(created_by, "pk", created_by),
                now,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def sql_insert_entries(entries: list[tuple[int, int, str, str, Decimal]], now) -> None:
    """``(txn_id, account_id, asset, bucket, amount)`` rows in one ``INSERT ... SELECT FROM unnest``."""
    txn_ids, account_ids, assets, buckets, amounts = zip(*entries, strict=True)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LedgerEntry._meta.db_table} (txn_id, account_id, asset, bucket, amount, created_at) "
            "SELECT e.txn_id, e.account_id, e.asset, e.bucket, e.amount, %s "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::numeric[]) "
            "AS e(txn_id, account_id, asset, bucket, amount)",
            [
                now,
                num_array(txn_ids),
                num_array(account_ids),
                text_array(assets),
                text_array(buckets),
                num_array(amounts),
            ],
        )


def transactions_built(txn_ids: list[int], postings: list, created_by, now, alias: str) -> list[LedgerTransaction]:
    """The inserted rows as model instances (``from_db``: no per-field conversion)."""
    fields = [f.attname for f in LedgerTransaction._meta.concrete_fields]
    created_by_id = getattr(created_by, "pk", created_by)
    out = []
    for txn_id, p in zip(txn_ids, postings, strict=True):
        values = {
            "id": txn_id,
            "reason": p.reason,
            "reference_type": p.reference_type,
            "reference_id": str(p.reference_id),
            "memo": p.memo[:255],
            "created_by_id": created_by_id,
            "created_at": now,
        }
        out.append(LedgerTransaction.from_db(alias, fields, [values[name] for name in fields]))
    return out
