"""The transaction a trader's command runs in (market orders, position opens and closes).

A command reads the price before any lock, then waits for its row locks. Two rules bound that wait
(docs/trading.md, "Lock timeout and price age"):

* ``command_atomic`` gives PostgreSQL a ``lock_timeout`` of ``TRADING_LOCK_TIMEOUT_MS`` for this
  transaction only (the liquidation engine's own transactions keep waiting): a command stuck behind
  a long liquidation batch answers 503 ``lock_timeout`` and writes nothing, instead of filling late.
  SQLite (embedded mode) takes its write lock at ``BEGIN IMMEDIATE`` and waits its connection's
  busy timeout (``config.env``, a few seconds); a "database is locked" is the same 503.
* ``quote_fresh_check``, called once the locks are held, refuses a price that aged past the
  staleness budget while the command waited (503 ``price_stale``, nothing written).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import psycopg.errors
from django.conf import settings
from django.db import OperationalError, connection, transaction

from pricing.errors import PriceStale
from pricing.selectors import PriceQuote
from trading.errors import LockWaitTimeout


def _is_lock_timeout(exc: OperationalError) -> bool:
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
        if _is_lock_timeout(exc):
            raise LockWaitTimeout(extra={"lock_timeout_ms": settings.TRADING_LOCK_TIMEOUT_MS}) from None
        raise


def quote_fresh_check(quote: PriceQuote, *, now: datetime | None = None) -> None:
    """Inside the transaction, after the locks: the price read before them is still within the
    staleness budget, or 503 ``price_stale`` (the caller's transaction rolls back)."""
    age = ((now or datetime.now(timezone.utc)) - quote.computed_at).total_seconds()
    budget = settings.PRICE_STALE_SECONDS
    if age > budget:
        raise PriceStale(
            "The price aged past its budget while the order waited for its turn; nothing was done.",
            extra={"age_seconds": round(age, 3), "budget_seconds": budget, "at": "fill"},
            retry_after=1,
        )
