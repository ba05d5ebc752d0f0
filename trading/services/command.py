"""The skeleton every trader's command runs (market orders, position orders and closes; later
cancels and replaces): a write a client can retry under its ``client_order_id``.

``command_run(command, prepare=..., write=...)`` is the one algorithm (docs/architecture.md,
"The order walk"):

1. one statement reads the trader's account, the system accounts and whether the id already has
   an outcome (``Command.books``); a stored outcome is replayed (or its rejection re-raised);
2. ``prepare(books)`` reads the price (no lock; 503 when missing or stale) and plans with pure
   maths; it names the balance rows to lock;
3. one durable transaction with a lock timeout (``command_atomic``): lock the balance rows, then
   one statement re-reads the epoch and the id's outcome under that lock (a concurrent duplicate
   committed while we waited replays), then the price's age is re-checked (``quote_fresh_check``);
4. ``write(books, prepared, locked)`` locks what else it needs in the global order and writes;
   events and tasks are queued on commit by the write itself;
5. a business rejection (a rule of the pure maths, insufficient funds, or an explicit
   ``Rejected``) is stored for the id, so the same id gets the same answer for ever; a duplicate
   that won the unique index replays.

Two rules bound the wait for locks (docs/trading.md, "Lock timeout and price age"):

* ``command_atomic`` gives PostgreSQL a ``lock_timeout`` of ``TRADING_LOCK_TIMEOUT_MS`` for this
  transaction only (the liquidation engine's own transactions keep waiting): a command stuck behind
  a long liquidation batch answers 503 ``lock_timeout`` and writes nothing, instead of filling late.
  SQLite (embedded mode) takes its write lock at ``BEGIN IMMEDIATE`` and waits its connection's
  busy timeout (``config.env``, a few seconds); a "database is locked" is the same 503.
* ``quote_fresh_check``, called once the locks are held, refuses a price that aged past the
  staleness budget while the command waited (503 ``price_stale``, nothing written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

import psycopg.errors
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from accounts.models import User
from core.errors import DomainError
from portfolio.errors import InsufficientFunds
from portfolio.models import Asset, Balance, LedgerAccount
from portfolio.services import account_open, balance_lock, system_account_get
from pricing.errors import PriceStale
from pricing.selectors import PriceQuote
from trading.errors import LockWaitTimeout, OrderRuleViolation
from trading.execution import RuleViolation
from trading.idempotency import Outcome as Row
from trading.idempotency import outcome_replay, rejection_store
from trading.models import StoredRejection

Plan = TypeVar("Plan")
SYSTEM_CODES = ("house", "fees", "insurance")


class Rejected(Exception):
    """A business rule refused the command inside its transaction (rolled back): ``command_run``
    stores ``error`` for the id and raises it."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Outcomes(Generic[Row]):
    """Where one kind of command keeps its outcomes: the rows it creates (one per id, unique
    ``(user, client_order_id)``) and its stored rejections; ``related`` is read with a replay."""

    rows: type[Row]
    rejections: type[StoredRejection]
    related: tuple[str, ...] = ()

    def probe_sql(self) -> str:
        """Two scalar subqueries: the stored row's and the stored rejection's request hash for
        ``(user_id, client_order_id)``, or NULL. They ride on a statement the command makes anyway
        (plain SQL: compiling annotated querysets cost more CPU per order than the round trip saved)."""
        return (
            f"(SELECT request_hash FROM {self.rows._meta.db_table} WHERE user_id = %s AND client_order_id = %s) "
            f"AS row_hash, (SELECT request_hash FROM {self.rejections._meta.db_table} "
            "WHERE user_id = %s AND client_order_id = %s) AS rejection_hash"
        )


@dataclass
class Books:
    """The accounts a command posts to: the trader's and the system's."""

    account: LedgerAccount
    house: LedgerAccount
    fees: LedgerAccount
    insurance: LedgerAccount


@dataclass(frozen=True)
class Prepared(Generic[Plan]):
    """What a command prepared before any lock: the price it read, its plan, and which of the
    trader's balance rows its transaction locks first."""

    quote: PriceQuote
    plan: Plan
    assets: tuple[str, ...] = (Asset.USD,)


@dataclass(frozen=True)
class Command(Generic[Row]):
    """One run of an idempotent command: who, under which id, meaning what (``digest``)."""

    outcomes: Outcomes[Row]
    user: User
    client_order_id: str
    digest: str

    def _ids(self) -> list[int | str]:
        return [self.user.pk, self.client_order_id] * 2

    def books(self) -> tuple[Books, bool]:
        """The trader's and the system accounts, and whether the id has an outcome: one statement.
        Opens what is missing (a user created before their books, a fresh database)."""
        table = LedgerAccount._meta.db_table
        sql = (
            f"SELECT a.*, {self.outcomes.probe_sql()} FROM {table} a "
            f"WHERE a.user_id = %s OR a.code IN ({', '.join(['%s'] * len(SYSTEM_CODES))})"
        )
        rows = list(LedgerAccount.objects.raw(sql, [*self._ids(), self.user.pk, *SYSTEM_CODES]))
        found = {row.code if row.is_system else "user": row for row in rows}
        probe = vars(rows[0]) if rows else {}  # the probe's two columns ride on every row
        stored = probe.get("row_hash") is not None or probe.get("rejection_hash") is not None
        system = [found.get(code) or system_account_get(code=code) for code in SYSTEM_CODES]
        return Books(found.get("user") or account_open(user=self.user), *system), stored

    def stored_under_lock(self, account: LedgerAccount) -> bool:
        """After the balance lock (a new statement, so its snapshot sees what a concurrent duplicate
        or reset committed while we waited): the account's epoch, and whether the id has an outcome."""
        sql = f"SELECT epoch, {self.outcomes.probe_sql()} FROM {LedgerAccount._meta.db_table} WHERE id = %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self._ids(), account.pk])
            account.epoch, row_hash, rejection_hash = cursor.fetchone()
        return row_hash is not None or rejection_hash is not None

    def replay(self) -> Row | None:
        """The stored row for this id, a re-raised stored rejection, or ``None``."""
        return outcome_replay(
            model=self.outcomes.rows._default_manager.select_related(*self.outcomes.related),
            rejection_model=self.outcomes.rejections,
            user=self.user,
            client_order_id=self.client_order_id,
            digest=self.digest,
        )

    def reject(self, error: DomainError) -> DomainError:
        return rejection_store(
            rejection_model=self.outcomes.rejections,
            user=self.user,
            client_order_id=self.client_order_id,
            digest=self.digest,
            error=error,
        )


Locked = dict[tuple[int, str, int], Balance]  # balance_lock's answer: (account id, asset, shard) -> row
Write = Callable[[Books, Prepared[Plan], Locked], Row]


def command_run(
    command: Command[Row], *, prepare: Callable[[Books], Prepared[Plan]], write: Write[Plan, Row]
) -> tuple[Row, bool]:
    """Run ``command`` (steps 1-5 above); returns ``(row, replayed)`` or raises a ``DomainError``."""
    books, stored = command.books()
    if stored and (row := command.replay()) is not None:
        return row, True
    try:
        prepared = prepare(books)
        with command_atomic():
            locked = balance_lock(keys=[(books.account, asset, 0) for asset in prepared.assets])
            if command.stored_under_lock(books.account) and (row := command.replay()) is not None:
                return row, True
            quote_fresh_check(prepared.quote)
            return write(books, prepared, locked), False
    except RuleViolation as violation:
        error = OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra)
        raise command.reject(error) from None
    except InsufficientFunds as error:
        raise command.reject(error) from None
    except Rejected as rejected:
        raise command.reject(rejected.error) from None
    except IntegrityError:
        row = command.replay()  # a concurrent duplicate won the unique index
        if row is None:
            raise
        return row, True


def is_lock_timeout(exc: OperationalError) -> bool:
    if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
        return True
    return connection.vendor == "sqlite" and "database is locked" in str(exc)


@contextmanager
def command_atomic() -> Iterator[None]:
    """``transaction.atomic(durable=True)`` with the command's lock timeout; a lock wait that
    times out is 503 ``lock_timeout`` (the transaction rolled back: nothing written)."""
    try:
        with transaction.atomic(durable=True):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # set_config(..., is_local => true) is SET LOCAL: this transaction only.
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true)", [f"{settings.TRADING_LOCK_TIMEOUT_MS}ms"]
                    )
            yield
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise LockWaitTimeout(extra={"lock_timeout_ms": settings.TRADING_LOCK_TIMEOUT_MS}) from None
        raise


def quote_fresh_check(quote: PriceQuote, *, now: datetime | None = None) -> None:
    """Inside the transaction, after the locks: the price read before them is still within the
    staleness budget, or 503 ``price_stale`` (the caller's transaction rolls back)."""
    age = (now or datetime.now(timezone.utc)) - quote.computed_at
    if age > timedelta(seconds=settings.PRICE_STALE_SECONDS):
        raise price_aged(age)


def price_aged(age: timedelta) -> PriceStale:
    """The 503 ``price_stale`` of a price that aged past its budget (``age``) while the command
    waited for its locks."""
    return PriceStale(
        "The price aged past its budget while the order waited for its turn; nothing was done.",
        extra={
            "age_seconds": round(age.total_seconds(), 3),
            "budget_seconds": settings.PRICE_STALE_SECONDS,
            "at": "fill",
        },
        retry_after=1,
    )
