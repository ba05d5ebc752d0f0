"""The one posting primitive: a balanced ledger transaction and its cached balances.

``ledger_post`` takes legs ``(account, asset, amount, bucket)``, refuses imbalance per asset,
locks every affected balance row in one ``SELECT ... FOR UPDATE ORDER BY allow_negative, id``,
applies the deltas, lets the database constraints and an explicit check refuse a negative free
balance, and appends the entries -- all inside the caller's transaction.

Lock order (docs/ledger.md, "Lock order"): users' balance rows first (by id), the system shard
rows (``grants``/``fees``/``house``/``insurance``, the rows with ``allow_negative``) last, by id.
A plain ``ORDER BY id`` interleaved them (the system rows are older, so lower): a posting then
held a ``grants`` row while it waited for a user's row that another transaction of that user
held -- and that transaction's own posting waited for the ``grants`` row: a deadlock.
"""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.money import dec_str
from core.pgarray import num_array, text_array
from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerTransaction

_ASSETS = set(Asset.values)
_BUCKETS = set(Bucket.values)


@dataclass(frozen=True)
class Leg:
    """One line of a ledger transaction. ``bucket="locked"`` moves the locked part too."""

    account: LedgerAccount
    asset: str
    amount: Decimal
    bucket: str = Bucket.FREE


def system_shard(shard_key: int, shards: int) -> int:
    """The one shard rule: the row of each system account (of ``shards``, ``LEDGER_SYSTEM_SHARDS``)
    that a posting with ``shard_key`` (the user id) touches. The liquidation engine's lanes
    split by it too (``trading.services.liquidation_lanes``)."""
    return shard_key % max(1, shards)


def _shard_for(account: LedgerAccount, shard_key: int, shards: int | None = None) -> int:
    """The balance row of ``account`` a posting with ``shard_key`` touches: 0 for a user, one of
    ``shards`` (``LEDGER_SYSTEM_SHARDS``; batches read it once and pass it) for a system account."""
    if account.kind != LedgerAccount.Kind.SYSTEM:
        return 0
    return system_shard(shard_key, shards or settings.LEDGER_SYSTEM_SHARDS)


def balance_lock(*, keys: Iterable[tuple[LedgerAccount, str, int]]) -> dict[tuple[int, str, int], Balance]:
    """Lock (creating when missing) the balance rows ``(account, asset, shard)``: user rows first,
    then system rows, each by primary key (the global lock order)."""
    wanted = {(account.pk, asset, shard): account for account, asset, shard in keys}
    if not wanted:
        return {}
    if transaction.get_connection().vendor == "postgresql":
        return _sql_lock(wanted)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for account_id, asset, shard in wanted:
        groups[(asset, shard)].append(account_id)
    condition = Q()
    for (asset, shard), account_ids in groups.items():  # one term per (asset, shard): cheap for big batches
        condition |= Q(asset=asset, shard=shard, account_id__in=sorted(account_ids))
    rows = _lock_rows(condition)
    missing = [key for key in wanted if key not in rows]
    if missing:
        Balance.objects.bulk_create(
            [
                Balance(account_id=a, asset=asset, shard=s, allow_negative=wanted[(a, asset, s)].is_system)
                for a, asset, s in missing
            ],
            ignore_conflicts=True,
        )
        rows = _lock_rows(condition)
    return rows


def _save_balances(rows: list[Balance]) -> None:
    """Write changed rows (the portable path; PostgreSQL adds deltas in ``_sql_apply``)."""
    Balance.objects.bulk_update(rows, ["total", "locked", "updated_at"])


def _lock_rows(condition: Q) -> dict[tuple[int, str, int], Balance]:
    locked = Balance.objects.select_for_update(of=("self",)).filter(condition).order_by("allow_negative", "pk")
    return {(b.account_id, b.asset, b.shard): b for b in locked}


def _validate(legs: Sequence[Leg]) -> None:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        if leg.asset not in _ASSETS or leg.bucket not in _BUCKETS:
            raise LedgerError(f"bad leg {leg!r}")
        if not isinstance(leg.amount, Decimal) or not leg.amount.is_finite():
            raise LedgerError(f"amount must be a finite Decimal: {leg!r}")
        if leg.account.id is None:
            raise LedgerError("leg account is not saved")
        if leg.bucket == Bucket.LOCKED and leg.account.is_system:
            raise LedgerError("system accounts never lock")
        sums[leg.asset] += leg.amount
    unbalanced = {asset: total for asset, total in sums.items() if total != 0}
    if unbalanced:
        raise LedgerImbalance(f"ledger transaction does not balance: {unbalanced}")


@dataclass(frozen=True)
class Posting:
    """One ledger transaction of a batch (``ledger_post_many``)."""

    reason: str
    legs: Sequence[Leg]
    reference_type: str = ""
    reference_id: str = ""
    memo: str = ""
    shard_key: int = 0


def ledger_post(
    *,
    reason: str,
    legs: Sequence[Leg],
    reference_type: str = "",
    reference_id: str = "",
    memo: str = "",
    created_by=None,
    shard_key: int = 0,
) -> LedgerTransaction:
    """Post a balanced transaction; raises ``InsufficientFunds`` (nothing written) on a shortfall.

    Must run inside ``transaction.atomic``. ``shard_key`` (usually the user id) picks which
    row of each system account absorbs the legs.
    """
    posting = Posting(reason, legs, reference_type, str(reference_id), memo, shard_key)
    return ledger_post_many(postings=[posting], created_by=created_by)[0]


def ledger_post_many(*, postings: Sequence[Posting], created_by=None) -> list[LedgerTransaction]:
    """Post several balanced transactions at once; the new transactions, in the postings' order.
    Rules and statements: ``_post_many``."""
    return _post_many(postings, created_by, instances=True)


def ledger_post_many_ids(*, postings: Sequence[Posting], created_by=None) -> list[int]:
    """``ledger_post_many`` answering only the new transactions' ids (the liquidation engine's
    batches only link them: no model instance is built for thousands of rows)."""
    return _post_many(postings, created_by, instances=False)


def _post_many(postings: Sequence[Posting], created_by, *, instances: bool) -> list:
    """Post several balanced transactions at once (the liquidation engine's batches).

    Same rules as ``ledger_post``: each posting balances per asset, every affected balance row
    is locked in one ``SELECT ... FOR UPDATE ORDER BY allow_negative, id`` (users' rows before
    the system rows), a user's free balance may not go
    negative (checked on the summed deltas per row, before anything is written). On PostgreSQL
    four statements whatever the batch size (lock, balance update, transactions, entries; the
    values travel as arrays through ``unnest``); elsewhere (SQLite, embedded mode) the ORM.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("ledger_post must run inside transaction.atomic()")
    cleaned: list[tuple[Posting, list[Leg]]] = []
    for posting in postings:
        legs = [leg for leg in posting.legs if leg.amount != 0]
        if not legs:
            raise LedgerError("a ledger transaction needs at least one non-zero leg")
        _validate(legs)
        cleaned.append((posting, legs))
    if not cleaned:
        return []

    deltas: dict[tuple[int, str, int], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    wanted: dict[tuple[int, str, int], LedgerAccount] = {}
    shards = max(1, settings.LEDGER_SYSTEM_SHARDS)
    for posting, legs in cleaned:
        for leg in legs:
            account = leg.account  # ``id``, not ``pk``: this loop runs for every leg of a batch
            key = (account.id, leg.asset, _shard_for(account, posting.shard_key, shards))
            wanted[key] = account
            delta = deltas[key]
            delta[0] += leg.amount
            if leg.bucket == Bucket.LOCKED:
                delta[1] += leg.amount
    now = timezone.now()
    if connection.vendor == "postgresql":
        rows = _sql_lock(wanted, light=True)
        _check(rows, deltas)
        _sql_apply(rows, deltas, now)
        txn_ids = _sql_insert_transactions([posting for posting, _legs in cleaned], created_by, now)
        _sql_insert_entries(
            [
                (txn_id, leg.account.id, leg.asset, leg.bucket, leg.amount)
                for txn_id, (_posting, legs) in zip(txn_ids, cleaned, strict=True)
                for leg in legs
            ],
            now,
        )
        if not instances:
            return txn_ids
        return _transactions(txn_ids, [posting for posting, _legs in cleaned], created_by, now, connection.alias)

    rows = balance_lock(keys=[(account, asset, shard) for (_id, asset, shard), account in wanted.items()])
    _check(rows, deltas)
    changed = []
    for key, (d_total, d_locked) in deltas.items():
        row = rows[key]
        row.total, row.locked, row.updated_at = row.total + d_total, row.locked + d_locked, now
        changed.append(row)
    _save_balances(changed)
    txns = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                reason=posting.reason,
                reference_type=posting.reference_type,
                reference_id=str(posting.reference_id),
                memo=posting.memo[:255],
                created_by=created_by,
                created_at=now,
            )
            for posting, _legs in cleaned
        ]
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                txn=txn, account=leg.account, asset=leg.asset, bucket=leg.bucket, amount=leg.amount, created_at=now
            )
            for txn, (_posting, legs) in zip(txns, cleaned, strict=True)
            for leg in legs
        ]
    )
    return txns if instances else [txn.pk for txn in txns]


def _check(rows, deltas: dict[tuple[int, str, int], list[Decimal]]) -> None:
    """Refuse the batch (nothing written yet) if a row's locked part or a user's free part would go negative."""
    for key, (d_total, d_locked) in deltas.items():
        row = rows[key]
        new_total, new_locked = row.total + d_total, row.locked + d_locked
        if new_locked < 0:
            raise LedgerError(f"locked balance would go negative on {key}")
        if not row.allow_negative and new_total - new_locked < 0:
            raise InsufficientFunds(
                extra={
                    "asset": row.asset,
                    "available": dec_str(row.free),
                    "required": dec_str(row.free - (new_total - new_locked)),
                }
            )


# --- PostgreSQL: one statement per step, values as arrays through unnest -----------------------


class LockedBalance(namedtuple("LockedBalance", "id account_id asset shard total locked allow_negative")):
    """A locked balance row as ``ledger_post_many`` reads it: plain values, no model instance."""

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


def _sql_lock(wanted: dict[tuple[int, str, int], LedgerAccount], *, light: bool = False) -> dict:
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


def _sql_apply(rows: dict[tuple[int, str, int], Balance], deltas: dict, now) -> None:
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


def _sql_insert_transactions(postings: list[Posting], created_by, now) -> list[int]:
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


def _sql_insert_entries(entries: list[tuple[int, int, str, str, Decimal]], now) -> None:
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


def _transactions(txn_ids: list[int], postings: list[Posting], created_by, now, alias: str) -> list[LedgerTransaction]:
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


def shard_for(account: LedgerAccount, shard_key: int) -> int:
    """The balance-row shard of ``account`` that a posting with ``shard_key`` touches (0 for a user)."""
    return _shard_for(account, shard_key)
