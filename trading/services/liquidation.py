"""The liquidation engine: on every accepted tick of an index (``SOL-USD``, ``BONK-USD``),
liquidate the positions of the perp markets on that index (``SOL-PERP``) whose liquidation price
the tick crossed, at the tick's price (docs/positions.md). A tick never touches another market's
positions: every statement carries ``symbol = ANY(<the index's perp markets>)``.

* Gate: never on a stale or superseded price. The tick's own ``computed_at`` must be within
  ``PRICE_STALE_SECONDS``, ``price_get_latest(symbol=<index>)`` must answer, and the tick must
  still be the latest accepted price (the latest record is not newer and has the tick's price): a
  tick that waited in the queue while a newer one was accepted does nothing (``superseded``); the
  newer tick (its own task, or the sweep) acts at its own price.
* A tick acts only on positions whose liquidation price was set before it (``updated_at <=
  computed_at``): a late tick never liquidates a position opened, increased or reduced after it,
  at a price that position never traded at. The next tick or the sweep judges those.
* Candidates: one query on the partial index ``(symbol, side, liquidation_price) WHERE status =
  'open'``: the index's markets' open longs with ``liquidation_price >= P`` and open shorts with
  ``liquidation_price <= P`` (range scans per market and side, never a scan of all positions, nor
  of another market's), in (user, id) order. Before it, one probe of that index's ends
  (``trading.position_ends_pg.liquidation_ends``, fixed SQL text): a tick that crosses no
  position stops there, before the gate.
* Each batch of up to ``POSITION_LIQUIDATION_BATCH`` candidates is one durable transaction
  of a fixed number of statements, whatever its size (PostgreSQL; docs/positions.md):
  lock the owners' USD balance rows (one statement, by id); transition the positions with ONE
  ``UPDATE ... WHERE id = ANY(ids) AND status = 'open' AND crossed at P RETURNING ...`` (the
  row lock and the re-check: a user's close or another engine run that won makes the row
  drop out, so each position has exactly one terminal transition); post one ``liquidation``
  ledger transaction per position (``ledger_post_many``: four statements); one insert for the
  history rows; ``position_liquidated`` per position and one ``portfolio_update`` per account
  (``realtime.publish.user_events_emit_many``: two statements, published after commit in one
  Redis call per shard), the updates built from three reads for the whole batch.
  If a batch fails, its positions are retried one per transaction. SQLite (embedded mode)
  takes the same steps through the ORM. The batch itself lives in
  ``trading.services.liquidation_batch``, its statements in ``trading.pg``.
* Fan-out (real stack, PostgreSQL, more candidates than one batch): the candidates are split into
  up to ``POSITION_LIQUIDATION_LANES`` lanes that share no locked row
  (``trading.services.liquidation_lanes``); the tick's task runs the first lane and enqueues the
  others as ``trading.liquidate_lane`` tasks, which other worker processes run at the same time.
  A lane re-checks the price gate for the tick's time; whatever a lost lane leaves open, the next
  tick or the sweep finds again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings

from core.jobs import enqueue
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest
from trading.models import (
    Position,
    PositionSide,
    PositionStatus,
)
from trading.perp_markets import perp_markets_by_index
from trading.position_ends_pg import liquidation_ends
from trading.services.liquidation_batch import liquidate_batch
from trading.services.liquidation_lanes import lanes_split, lanes_wanted

logger = logging.getLogger("trading.liquidation")


DEFAULT_INDEX = "SOL-USD"


@dataclass
class LiquidationReport:
    price: Decimal
    index_symbol: str = DEFAULT_INDEX
    symbols: tuple[str, ...] = ()  # the perp markets on the index the tick ran for
    candidates: int = 0
    liquidated: list[str] = field(default_factory=list)  # by this process (the first lane)
    skipped: str | None = None  # "price_stale" / "price_unavailable" when the gate refused
    lanes: int = 0  # lanes the candidates were split into (1 = all here)
    dispatched: int = 0  # candidates handed to other lanes (``trading.liquidate_lane`` tasks)


def liquidation_candidate_rows(
    *, price: Decimal, symbols: Sequence[str], before: datetime | None = None
) -> list[tuple]:
    """``(id, user_id)`` of crossed open positions of the markets ``symbols`` (one index's perps):
    a UNION of the range scans of the partial index on open ``(symbol, side, liquidation_price)``.
    In (user, id) order, so a user's positions fall in one batch (one ``portfolio_update`` per
    user, not one per batch it would be spread over). ``before``: only positions whose
    liquidation price was set at or before it (the tick's time)."""
    if not symbols:
        return []
    since: dict[str, object] = {} if before is None else {"updated_at__lte": before}
    market = {"symbol": symbols[0]} if len(symbols) == 1 else {"symbol__in": list(symbols)}
    open_long = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.LONG, liquidation_price__gte=price, **market, **since
    ).values_list("id", "user_id")
    open_short = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.SHORT, liquidation_price__lte=price, **market, **since
    ).values_list("id", "user_id")
    return list(open_long.union(open_short, all=True).order_by("user_id", "id"))


def liquidation_candidates(*, price: Decimal, symbols: Sequence[str], before: datetime | None = None) -> list:
    """Ids of crossed open positions of ``symbols``, in (user, id) order."""
    rows = liquidation_candidate_rows(price=price, symbols=symbols, before=before)
    return [position_id for position_id, _user_id in rows]


def price_gate(
    *,
    price: Decimal,
    computed_at: datetime,
    index_symbol: str = DEFAULT_INDEX,
    symbols: Sequence[str] = (),
    now: datetime | None = None,
) -> str | None:
    """``None`` when the tick may act, else the reason it may not: ``price_stale`` /
    ``price_unavailable`` (no fresh latest price, or the tick itself is old) or ``superseded``
    (re-checked against the latest record: the tick is no longer the latest accepted price, i.e. a
    newer record exists or the latest record's price is not the tick's). ``symbols``: the perp
    markets the tick acts on at ``price``, their mark; the latest record must still mark each of
    them at ``price`` (without ``symbols``: its index)."""
    age = ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
    if age > settings.PRICE_STALE_SECONDS or age < -5:
        return "price_stale"
    try:
        latest = price_get_latest(symbol=index_symbol, now=now)
    except PriceStale:
        return "price_stale"
    except PriceUnavailable:
        return "price_unavailable"
    acting = [latest.mark_of(symbol) for symbol in symbols] or [latest.price]
    if latest.computed_at > computed_at or any(mark != price for mark in acting):
        return "superseded"
    return None


def liquidation_run(
    *,
    price: Decimal,
    computed_at: datetime,
    index_symbol: str = DEFAULT_INDEX,
    symbols: Sequence[str] | None = None,
    now: datetime | None = None,
) -> LiquidationReport:
    """Liquidate every position of the perp markets ``symbols`` on ``index_symbol`` (default: all
    of them) that the tick's mark ``price`` of those markets (computed at ``computed_at``) crossed."""
    if symbols is None:
        symbols = perp_markets_by_index().get(index_symbol, ())
    symbols = tuple(symbols)
    report = LiquidationReport(price=price, index_symbol=index_symbol, symbols=symbols)
    if not symbols or not liquidation_ends(symbols=symbols).crossed_by(price):
        return report  # a quiet tick: the probe of the index's ends, and nothing else
    report.skipped = price_gate(
        price=price, computed_at=computed_at, index_symbol=index_symbol, symbols=symbols, now=now
    )
    if report.skipped:
        logger.warning("liquidation on %s skipped at %s: %s", index_symbol, price, report.skipped)
        return report
    rows = liquidation_candidate_rows(price=price, symbols=symbols, before=computed_at)
    report.candidates = len(rows)
    lanes = lanes_split(rows, lanes=_lanes_wanted(len(rows)), shards=settings.LEDGER_SYSTEM_SHARDS) if rows else []
    report.lanes = len(lanes)
    for lane in lanes[1:]:
        if _lane_dispatch(ids=lane, price=price, computed_at=computed_at, index_symbol=index_symbol, symbols=symbols):
            report.dispatched += len(lane)
        else:  # no broker: this process does it too
            lanes[0] += lane
    if lanes:
        report.liquidated = positions_liquidate_all(ids=lanes[0], price=price, computed_at=computed_at, symbols=symbols)
    if report.liquidated or report.dispatched:
        logger.info(
            "liquidated %d of %d candidates on %s at %s (%d handed to %d other lanes)",
            len(report.liquidated),
            len(rows),
            index_symbol,
            price,
            report.dispatched,
            max(0, report.lanes - 1),
        )
    return report


def positions_liquidate_all(
    *, ids: list, price: Decimal, computed_at: datetime | None, symbols: Sequence[str]
) -> list[str]:
    """``positions_liquidate`` in batches of ``POSITION_LIQUIDATION_BATCH``. (The leaderboard picks
    the liquidated accounts up from the ledger within seconds: ``portfolio.leaderboard_changes``.)"""
    size = max(1, settings.POSITION_LIQUIDATION_BATCH)
    done: list[str] = []
    for start in range(0, len(ids), size):
        done += positions_liquidate(
            ids=ids[start : start + size], price=price, computed_at=computed_at, symbols=symbols
        )
    return done


def _lanes_wanted(candidates: int) -> int:
    return lanes_wanted(
        candidates, lanes=settings.POSITION_LIQUIDATION_LANES, batch=settings.POSITION_LIQUIDATION_BATCH
    )


LIQUIDATE_LANE_TASK = "trading.liquidate_lane"


def _lane_dispatch(
    *, ids: list, price: Decimal, computed_at: datetime, index_symbol: str, symbols: Sequence[str]
) -> bool:
    """Enqueue ``trading.liquidate_lane`` for ``ids``; False (logged) if the broker refused."""
    try:
        enqueue(
            LIQUIDATE_LANE_TASK, [str(i) for i in ids], str(price), computed_at.isoformat(), index_symbol, list(symbols)
        )
        return True
    except Exception:
        logger.warning("could not enqueue a liquidation lane of %d positions; running it here", len(ids), exc_info=True)
        return False


def liquidation_lane_run(
    *,
    ids: list,
    price: Decimal,
    computed_at: datetime,
    index_symbol: str = DEFAULT_INDEX,
    symbols: Sequence[str] | None = None,
) -> list[str]:
    """A lane handed over by a tick: the same gate (the tick's mark of ``symbols`` must still be
    the latest), then the batches. Returns the ids liquidated."""
    if symbols is None:
        symbols = perp_markets_by_index().get(index_symbol, [])
    skipped = price_gate(price=price, computed_at=computed_at, index_symbol=index_symbol, symbols=symbols)
    if skipped:
        logger.warning("liquidation lane of %d on %s skipped at %s: %s", len(ids), index_symbol, price, skipped)
        return []
    return positions_liquidate_all(ids=ids, price=price, computed_at=computed_at, symbols=symbols)


def positions_liquidate(
    *, ids: list, price: Decimal, symbols: Sequence[str], computed_at: datetime | None = None
) -> list[str]:
    """Liquidate those of ``ids`` (positions of the markets ``symbols``) still open and crossed at
    ``price``; returns the liquidated ids."""
    if not ids or not symbols:
        return []
    try:
        return liquidate_batch(ids=ids, price=price, computed_at=computed_at, symbols=symbols)
    except Exception:
        if len(ids) == 1:
            raise
        logger.exception("liquidation batch of %d failed; retrying one by one", len(ids))
        done: list[str] = []
        for position_id in ids:
            try:
                done += liquidate_batch(ids=[position_id], price=price, computed_at=computed_at, symbols=symbols)
            except Exception:
                logger.exception("liquidation of position %s failed", position_id)
        return done
