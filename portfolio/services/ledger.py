"""The one posting primitive: a balanced ledger transaction and its cached balances.

``ledger_post`` takes legs ``(account, asset, amount, bucket)``, refuses imbalance per asset,
locks every affected balance row in one ``SELECT ... FOR UPDATE ORDER BY allow_negative, id``,
applies the deltas, lets the database constraints and an explicit check refuse a negative free
balance, and appends the entries -- all inside the caller's transaction. The statements of
each step, for PostgreSQL and their ORM twins for SQLite, are ``portfolio.pg``'s.

Lock order (docs/ledger.md, "Lock order"): users' balance rows first (by id), the system shard
rows (``grants``/``fees``/``house``/``insurance``, the rows with ``allow_negative``) last, by id.
A plain ``ORDER BY id`` interleaved them (the system rows are older, so lower): a posting then
held a ``grants`` row while it waited for a user's row that another transaction of that user
held -- and that transaction's own posting waited for the ``grants`` row: a deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.money import dec_str
from portfolio.assets import asset_known
from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Balance, Bucket, LedgerAccount, LedgerTransaction
from portfolio.pg import Deltas, EntryRow, Key, LockedRow, TxnRow, ledger_statements

if TYPE_CHECKING:
    from accounts.models import User

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


def shard_for(account: LedgerAccount, shard_key: int, shards: int | None = None) -> int:
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
    return ledger_statements().balances_lock(wanted)


def balance_rows_lock(*, keys: Iterable[tuple[LedgerAccount, str, int]]) -> dict[Key, LockedRow]:
    """``balance_lock`` answering plain rows ``(id, total, locked, allow_negative)`` instead of
    ``Balance`` instances (the trigger engine's batches lock thousands)."""
    wanted = {(account.pk, asset, shard): account for account, asset, shard in keys}
    if not wanted:
        return {}
    return ledger_statements().balances_lock(wanted, light=True)


def _validate(legs: Sequence[Leg], known: dict[str, bool] | None = None) -> None:
    """``known``: the assets already looked up (a batch asks the registry once per asset)."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    known = {} if known is None else known
    for leg in legs:
        if leg.asset not in known:
            known[leg.asset] = asset_known(leg.asset)
        if not known[leg.asset] or leg.bucket not in _BUCKETS:
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
    created_by: User | None = None,
    shard_key: int = 0,
    locked: Mapping[Key, LockedRow] | None = None,
) -> LedgerTransaction:
    """Post a balanced transaction; raises ``InsufficientFunds`` (nothing written) on a shortfall.

    Must run inside ``transaction.atomic``. ``shard_key`` (usually the user id) picks which
    row of each system account absorbs the legs. ``locked``: see ``_post_many``.
    """
    posting = Posting(reason, legs, reference_type, str(reference_id), memo, shard_key)
    return ledger_post_many(postings=[posting], created_by=created_by, locked=locked)[0]


def ledger_post_many(
    *, postings: Iterable[Posting], created_by: User | None = None, locked: Mapping[Key, LockedRow] | None = None
) -> list[LedgerTransaction]:
    """Post several balanced transactions at once; the new transactions, in the postings' order.
    Rules and statements: ``_post_many``."""
    return _post_many(postings, created_by, instances=True, locked=locked)


def ledger_post_many_ids(
    *, postings: Iterable[Posting], created_by: User | None = None, locked: Mapping[Key, LockedRow] | None = None
) -> list[int]:
    """``ledger_post_many`` answering only the new transactions' ids (the liquidation engine's
    batches only link them: no model instance is built for thousands of rows). ``postings`` may
    be a generator: each posting is read once, and nothing of it is kept but plain values."""
    return _post_many(postings, created_by, instances=False, locked=locked)


def _post_many(
    postings: Iterable[Posting], created_by: User | None, *, instances: bool, locked: Mapping[Key, LockedRow] | None
) -> list:
    """Post several balanced transactions at once (the liquidation engine's batches).

    Same rules as ``ledger_post``: each posting balances per asset, every affected balance row
    is locked in one ``SELECT ... FOR UPDATE ORDER BY allow_negative, id`` (users' rows before
    the system rows), a user's free balance may not go negative (checked on the summed deltas per
    row, before anything is written). Four steps whatever the batch size: lock, add the deltas,
    insert the transactions, insert the entries (``portfolio.pg``: on PostgreSQL one statement
    each; on SQLite the ORM).

    ``locked``: balance rows the caller's transaction already locked and has not changed since
    (``balance_rows_lock``'s answer, or ``balance_lock``'s as plain rows), taken as they are
    instead of being locked and read again; the legs' other rows (the system shards, as a rule)
    are locked as usual, after them -- the global order still holds (a command and the trigger
    engine lock their users' rows first).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post must run inside transaction.atomic()")
    txns, entries, wanted, deltas = _rows(postings)
    if not txns:
        return []
    sql = ledger_statements()
    now = timezone.now()
    given = {key: locked[key] for key in wanted if key in locked} if locked else {}
    missing = {key: account for key, account in wanted.items() if key not in given}
    rows = {**given, **sql.balances_lock(missing, light=True)} if missing else given
    _check(rows, deltas)
    sql.balances_add(rows, deltas, now)
    txn_ids = sql.transactions_insert(txns, created_by, now)
    sql.entries_insert([(txn_ids[n], a, asset, bucket, amount) for n, a, asset, bucket, amount in entries], now)
    return _transactions_built(txn_ids, txns, created_by, now) if instances else txn_ids


_NO_DELTA = (Decimal(0), Decimal(0))


def _rows(
    postings: Iterable[Posting],
) -> tuple[list[TxnRow], list[EntryRow], dict[Key, LedgerAccount], Deltas]:
    """One pass over the postings, each validated (at least one non-zero leg, balanced per asset)
    and then let go: the transactions ``(reason, reference_type, reference_id, memo)``, the
    entries ``(posting's index, account_id, asset, bucket, amount)``, the balance rows the legs
    touch ``{(account_id, asset, shard): account}`` and each row's summed ``(d_total, d_locked)``.

    Plain tuples of plain values (``str``, not the choices' enum members): a batch of thousands
    of postings then leaves nothing for the cyclic garbage collector to carry (CPython stops
    tracking a tuple of such values), so it does not set off full collections of the process."""
    txns: list[TxnRow] = []
    entries: list[EntryRow] = []  # the posting's index where the entry row has its txn_id
    wanted: dict[Key, LedgerAccount] = {}
    deltas: Deltas = {}
    shards = max(1, settings.LEDGER_SYSTEM_SHARDS)
    known: dict[str, bool] = {}
    for n, posting in enumerate(postings):
        legs = [leg for leg in posting.legs if leg.amount != 0]
        if not legs:
            raise LedgerError("a ledger transaction needs at least one non-zero leg")
        _validate(legs, known)
        txns.append((str(posting.reason), posting.reference_type, str(posting.reference_id), posting.memo[:255]))
        for leg in legs:
            account, asset, bucket = leg.account, str(leg.asset), str(leg.bucket)
            key = (account.id, asset, shard_for(account, posting.shard_key, shards))  # ``id``: faster than ``pk``
            wanted[key] = account
            d_total, d_locked = deltas.get(key, _NO_DELTA)
            deltas[key] = (d_total + leg.amount, d_locked + leg.amount if bucket == Bucket.LOCKED else d_locked)
            entries.append((n, account.id, asset, bucket, leg.amount))
    return txns, entries, wanted, deltas


def _transactions_built(
    txn_ids: list[int], txns: list[TxnRow], created_by: User | None, now: datetime
) -> list[LedgerTransaction]:
    """The inserted rows as model instances (``from_db``: no per-field conversion)."""
    alias = transaction.get_connection().alias
    fields = [f.attname for f in LedgerTransaction._meta.concrete_fields]
    created_by_id = created_by.pk if created_by is not None else None
    out = []
    for txn_id, (reason, reference_type, reference_id, memo) in zip(txn_ids, txns, strict=True):
        values = {
            "id": txn_id,
            "reason": reason,
            "reference_type": reference_type,
            "reference_id": reference_id,
            "memo": memo,
            "created_by_id": created_by_id,
            "created_at": now,
        }
        out.append(LedgerTransaction.from_db(alias, fields, [values[name] for name in fields]))
    return out


def _check(rows: dict[Key, LockedRow], deltas: Deltas) -> None:
    """Refuse the batch (nothing written yet) if a row's locked part or a user's free part would
    go negative. ``rows``: the locked rows ``(id, total, locked, allow_negative)`` by key."""
    for key, (d_total, d_locked) in deltas.items():
        _id, total, locked, allow_negative = rows[key]
        new_total, new_locked = total + d_total, locked + d_locked
        if new_locked < 0:
            raise LedgerError(f"locked balance would go negative on {key}")
        if not allow_negative and new_total - new_locked < 0:
            free, short = total - locked, total - locked - (new_total - new_locked)
            raise InsufficientFunds(extra={"asset": key[1], "available": dec_str(free), "required": dec_str(short)})
