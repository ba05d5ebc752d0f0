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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.money import dec_str
from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerTransaction
from portfolio.services.ledger_pg import (
    sql_apply,
    sql_insert_entries,
    sql_insert_transactions,
    sql_lock,
    transactions_built,
)

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
        return sql_lock(wanted)
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
    """Write changed rows (the portable path; PostgreSQL adds deltas in ``sql_apply``)."""
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
        rows = sql_lock(wanted, light=True)
        _check(rows, deltas)
        sql_apply(rows, deltas, now)
        txn_ids = sql_insert_transactions([posting for posting, _legs in cleaned], created_by, now)
        sql_insert_entries(
            [
                (txn_id, leg.account.id, leg.asset, leg.bucket, leg.amount)
                for txn_id, (_posting, legs) in zip(txn_ids, cleaned, strict=True)
                for leg in legs
            ],
            now,
        )
        if not instances:
            return txn_ids
        return transactions_built(txn_ids, [posting for posting, _legs in cleaned], created_by, now, connection.alias)

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


def shard_for(account: LedgerAccount, shard_key: int) -> int:
    """The balance-row shard of ``account`` that a posting with ``shard_key`` touches (0 for a user)."""
    return _shard_for(account, shard_key)
