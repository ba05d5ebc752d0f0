"""The liquidation engine: on every accepted tick, liquidate the positions whose liquidation
price the tick crossed, at the tick's price (docs/positions.md).

* Gate: never on a stale price. The tick's own ``computed_at`` must be within
  ``PRICE_STALE_SECONDS`` and ``price_get_latest()`` must answer (pricing is live).
* Candidates: one indexed query on ``(status, side, liquidation_price)``: open longs with
  ``liquidation_price >= P`` and open shorts with ``liquidation_price <= P`` (two index range
  scans, never a scan of all positions).
* Each batch of up to ``POSITION_LIQUIDATION_BATCH`` candidates is one durable transaction
  of a fixed number of statements, whatever its size (PostgreSQL; docs/positions.md):
  lock the owners' USD balance rows (one statement, by id); transition the positions with ONE
  ``UPDATE ... WHERE id = ANY(ids) AND status = 'open' AND crossed at P RETURNING ...`` (the
  row lock and the re-check: a user's close or another engine run that won makes the row
  drop out, so each position has exactly one terminal transition); post one ``liquidation``
  ledger transaction per position (``ledger_post_many``: four statements); one insert for the
  history rows; ``position_liquidated`` per position and one ``portfolio_update`` per account
  (``realtime.publish.user_events_emit_many``: two statements, published after commit in one
  event-loop run), the updates built from three reads for the whole batch.
  If a batch fails, its positions are retried one per transaction. SQLite (embedded mode)
  takes the same steps through the ORM (``_liquidate_batch_portable``). The batch itself lives in
  ``trading.services.liquidation_batch``.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings
from django.db import connection

from portfolio.leaderboard import leaderboard_touch_many_on_commit
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest
from trading.models import (
    Position,
    PositionSide,
    PositionStatus,
)
from trading.services.liquidation_batch import _liquidate_batch_portable, _liquidate_batch_sql

logger = logging.getLogger("trading.liquidation")


@dataclass
class LiquidationReport:
    price: Decimal
    candidates: int = 0
    liquidated: list[str] = field(default_factory=list)
    skipped: str | None = None  # "price_stale" / "price_unavailable" when the gate refused


def liquidation_candidates(*, price: Decimal) -> list:
    """Ids of crossed open positions, as a UNION of the two indexed range queries."""
    open_long = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.LONG, liquidation_price__gte=price
    ).values_list("id", flat=True)
    open_short = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.SHORT, liquidation_price__lte=price
    ).values_list("id", flat=True)
    return sorted(open_long.union(open_short, all=True))


def price_gate(*, computed_at: datetime, now: datetime | None = None) -> str | None:
    """``None`` when the tick may liquidate, else the reason it may not."""
    age = ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
    if age > settings.PRICE_STALE_SECONDS or age < -5:
        return "price_stale"
    try:
        price_get_latest(now=now)
    except PriceStale:
        return "price_stale"
    except PriceUnavailable:
        return "price_unavailable"
    return None


def liquidation_run(*, price: Decimal, computed_at: datetime, now: datetime | None = None) -> LiquidationReport:
    """Liquidate every position the tick ``price`` (computed at ``computed_at``) crossed."""
    report = LiquidationReport(price=price)
    report.skipped = price_gate(computed_at=computed_at, now=now)
    if report.skipped:
        logger.warning("liquidation skipped at %s: %s", price, report.skipped)
        return report
    ids = liquidation_candidates(price=price)
    report.candidates = len(ids)
    size = max(1, settings.POSITION_LIQUIDATION_BATCH)
    touched: set[int] = set()
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        report.liquidated += positions_liquidate(ids=batch, price=price, computed_at=computed_at, touched=touched)
    leaderboard_touch_many_on_commit(account_ids=sorted(touched))  # one refresh task per tick, sent now
    if report.liquidated:
        logger.info("liquidated %d of %d candidates at %s", len(report.liquidated), len(ids), price)
    return report


def positions_liquidate(
    *, ids: list, price: Decimal, computed_at: datetime | None = None, touched: set[int] | None = None
) -> list[str]:
    """Liquidate those of ``ids`` still open and crossed at ``price``; returns the liquidated ids.

    The ledger accounts it touched are added to ``touched`` (the caller refreshes their
    leaderboard rows once); without it, the refresh is queued here.
    """
    if not ids:
        return []
    accounts: set[int] = set()
    try:
        return _liquidate_batch(ids=ids, price=price, computed_at=computed_at, touched=accounts)
    except Exception:
        if len(ids) == 1:
            raise
        logger.exception("liquidation batch of %d failed; retrying one by one", len(ids))
        done: list[str] = []
        for position_id in ids:
            try:
                done += _liquidate_batch(ids=[position_id], price=price, computed_at=computed_at, touched=accounts)
            except Exception:
                logger.exception("liquidation of position %s failed", position_id)
        return done
    finally:
        if touched is None:
            leaderboard_touch_many_on_commit(account_ids=sorted(accounts))
        else:
            touched |= accounts


@contextmanager
def _gc_paused():
    """Pause Python's cyclic garbage collector for one batch.

    A batch keeps tens of thousands of small containers alive until its commit (rows, legs,
    event payloads); they trip full collections that walk every live object of the process:
    ~15% of a 10,000-position tick in the bench. What a batch frees is freed by reference
    counting anyway; any cycles are collected after it. Process-wide, so it only re-enables the
    collector if it was on when the batch started.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _liquidate_batch(*, ids: list, price: Decimal, computed_at: datetime | None, touched: set[int]) -> list[str]:
    if connection.vendor != "postgresql":
        return _liquidate_batch_portable(ids=ids, price=price, computed_at=computed_at, touched=touched)
    with _gc_paused():
        return _liquidate_batch_sql(ids=ids, price=price, computed_at=computed_at, touched=touched)
