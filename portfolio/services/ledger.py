"""The one posting primitive: a balanced ledger transaction and its cached balances.

``ledger_post`` takes legs ``(account, asset, amount, bucket)``, refuses imbalance per asset,
locks every affected balance row in one ``SELECT ... FOR UPDATE ORDER BY id`` (one global
lock order), applies the deltas, lets the database constraints and an explicit check refuse
a negative free balance, and appends the entries -- all inside the caller's transaction.
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

from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerTransaction
from portfolio.money import dec_str

_ASSETS = set(Asset.values)
_BUCKETS = set(Bucket.values)


@dataclass(frozen=True)
class Leg:
    """One line of a ledger transaction. ``bucket="locked"`` moves the locked part too."""

    account: LedgerAccount
    asset: str
    amount: Decimal
    bucket: str = Bucket.FREE


def _shard_for(account: LedgerAccount, shard_key: int) -> int:
    if not account.is_system:
        return 0
    return shard_key % max(1, settings.LEDGER_SYSTEM_SHARDS)


def balance_lock(*, keys: Iterable[tuple[LedgerAccount, str, int]]) -> dict[tuple[int, str, int], Balance]:
    """Lock (creating when missing) the balance rows ``(account, asset, shard)``, in primary-key order."""
    wanted = {(account.pk, asset, shard): account for account, asset, shard in keys}
    if not wanted:
        return {}
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
    """Write changed rows: one ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL (bulk_update's
    CASE expressions cost O(rows) Python per row on big batches), ``bulk_update`` elsewhere."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or len(rows) < 3:
        Balance.objects.bulk_update(rows, ["total", "locked", "updated_at"])
        return
    table = Balance._meta.db_table
    values = ", ".join(["(%s, %s::numeric, %s::numeric, %s::timestamptz)"] * len(rows))
    params: list = []
    for row in rows:
        params += [row.pk, row.total, row.locked, row.updated_at]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS b SET total = v.total, locked = v.locked, updated_at = v.updated_at "
            f"FROM (VALUES {values}) AS v(id, total, locked, updated_at) WHERE b.id = v.id",
            params,
        )


def _lock_rows(condition: Q) -> dict[tuple[int, str, int], Balance]:
    locked = Balance.objects.select_for_update(of=("self",)).filter(condition).order_by("pk")
    return {(b.account_id, b.asset, b.shard): b for b in locked}


def _validate(legs: Sequence[Leg]) -> None:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        if leg.asset not in _ASSETS or leg.bucket not in _BUCKETS:
            raise LedgerError(f"bad leg {leg!r}")
        if not isinstance(leg.amount, Decimal) or not leg.amount.is_finite():
            raise LedgerError(f"amount must be a finite Decimal: {leg!r}")
        if leg.account.pk is None:
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
    """Post several balanced transactions at once (the liquidation engine's batches).

    Same rules as ``ledger_post``: each posting balances per asset, every affected balance row
    is locked in one ``SELECT ... FOR UPDATE ORDER BY id``, a user's free balance may not go
    negative (checked on the summed deltas per row). Four statements for the whole batch.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post must run inside transaction.atomic()")
    cleaned: list[tuple[Posting, list[Leg]]] = []
    for posting in postings:
        legs = [leg for leg in posting.legs if leg.amount != 0]
        if not legs:
            raise LedgerError("a ledger transaction needs at least one non-zero leg")
        _validate(legs)
        cleaned.append((posting, legs))

    deltas: dict[tuple[int, str, int], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    keys = []
    for posting, legs in cleaned:
        for leg in legs:
            key = (leg.account.pk, leg.asset, _shard_for(leg.account, posting.shard_key))
            keys.append((leg.account, leg.asset, key[2]))
            deltas[key][0] += leg.amount
            if leg.bucket == Bucket.LOCKED:
                deltas[key][1] += leg.amount
    rows = balance_lock(keys=keys)

    now = timezone.now()
    changed = []
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
        row.total, row.locked, row.updated_at = new_total, new_locked, now
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
    return txns


def shard_for(account: LedgerAccount, shard_key: int) -> int:
    """The balance-row shard of ``account`` that a posting with ``shard_key`` touches."""
    return _shard_for(account, shard_key)
