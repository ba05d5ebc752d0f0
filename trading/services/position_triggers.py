"""The TP/SL trigger engine: on every accepted tick of an index, close the positions of that
index's perp markets whose take-profit or stop-loss the tick crossed (docs/positions.md).

* Run first in a tick (``trading.tasks.liquidate_on_tick``), before the liquidations: a stop-loss
  fires before the liquidation it protects against, even on a tick that crossed both.
* Candidates: one query, four range scans of the partial indexes ``position_open_sym_side_tp``
  / ``_sl`` (``(symbol, side, price) WHERE status = 'open' AND price IS NOT NULL``): longs with
  ``take_profit_price <= P`` or ``stop_loss_price >= P``, shorts the other way round; only
  positions whose size last changed at or before the tick (``updated_at <= computed_at``, the
  liquidation engine's rule). A quiet tick costs less: first one probe of those indexes' ends
  (``trading.position_ends_pg.tpsl_ends``, fixed SQL text), which says when nothing can cross.
* The price gate of the liquidation engine (``price_gate``: never on a stale or superseded tick),
  checked only when there are candidates.
* Each candidate is closed WHOLE, reduce-only, at market, with exactly the outcome of the
  trader's own close command (``position_close`` with a ``Trigger``: the tick's price with the
  normal slippage and fee, a ``PositionOrder`` record under the id ``take_profit:<position id>``
  / ``stop_loss:<id>``, the history row with its reason, ``position_update``), in set-based
  batches of ``POSITION_TPSL_BATCH`` (``trading.services.tpsl_batch``: one durable transaction
  of a fixed number of statements each). The re-check is the batch's ``UPDATE``, under the row
  lock after the trader's balance lock (still open, unchanged since the tick, the price still
  set and crossed): a manual close, a TP/SL edit, a second engine run and the tick race to one
  outcome. The close ends the position, so it clears both prices: one firing cancels the other
  (OCO). If a batch fails, its positions are closed one by one by the close command itself
  (which replays a close another run made under the same id).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db.models import CharField, QuerySet, Value

from accounts.models import User
from core.errors import DomainError
from pricing.errors import PriceStale
from pricing.selectors import PriceQuote, price_get_latest
from trading.models import Position, PositionSide, PositionStatus
from trading.perp_markets import perp_markets_by_index
from trading.position_ends_pg import tpsl_ends
from trading.services.liquidation import price_gate
from trading.services.positions import position_close
from trading.services.tpsl_batch import tpsl_close_batch
from trading.tpsl import STOP_LOSS, TAKE_PROFIT, Trigger, TriggerGone, trigger_client_order_id

logger = logging.getLogger("trading.triggers")


@dataclass
class PositionTriggerReport:
    price: Decimal
    index_symbol: str
    candidates: int = 0
    closed: list[tuple[str, str]] = field(default_factory=list)  # (position id, take_profit|stop_loss)
    skipped: int = 0  # listed, but gone under the lock (or replayed: another run closed it)
    gate: str | None = None  # why the tick may not act (price_stale / superseded ...)


def tpsl_candidates(
    *, price: Decimal, symbols: Sequence[str], before: datetime | None = None
) -> list[tuple[UUID, int, str]]:
    """``(position id, user id, kind)`` of the open positions of ``symbols`` whose take-profit or
    stop-loss ``price`` crossed, in (user, id) order. A position listed under both (possible only
    when one was set while the other was already crossed) is listed once, as ``stop_loss``."""
    if not symbols:
        return []
    market = {"symbol": symbols[0]} if len(symbols) == 1 else {"symbol__in": list(symbols)}
    since: dict[str, object] = {} if before is None else {"updated_at__lte": before}
    open_rows = Position.objects.filter(status=PositionStatus.OPEN, **market, **since)

    def scan(kind: str, side: str, **crossed: Decimal) -> QuerySet:
        rows = open_rows.filter(side=side, **crossed).annotate(kind=Value(kind, output_field=CharField()))
        return rows.values_list("id", "user_id", "kind")

    scans = [
        scan(STOP_LOSS, PositionSide.LONG, stop_loss_price__gte=price),
        scan(STOP_LOSS, PositionSide.SHORT, stop_loss_price__lte=price),
        scan(TAKE_PROFIT, PositionSide.LONG, take_profit_price__lte=price),
        scan(TAKE_PROFIT, PositionSide.SHORT, take_profit_price__gte=price),
    ]
    rows = list(scans[0].union(*scans[1:], all=True))
    seen: dict[UUID, tuple[UUID, int, str]] = {}
    for row in rows:
        if row[0] not in seen or row[2] == STOP_LOSS:
            seen[row[0]] = row
    return sorted(seen.values(), key=lambda row: (row[1], row[0]))


def position_triggers_run(
    *,
    index_symbol: str,
    price: Decimal,
    computed_at: datetime,
    symbols: Sequence[str] | None = None,
    now: datetime | None = None,
) -> PositionTriggerReport:
    """Close every position of the perp markets ``symbols`` on ``index_symbol`` (default: all of
    them) whose take-profit or stop-loss the tick's mark ``price`` of those markets (computed at
    ``computed_at``) crossed, at that mark; a failure on one position is logged and the others
    still close. Safe to rerun."""
    report = PositionTriggerReport(price=price, index_symbol=index_symbol)
    if symbols is None:
        symbols = perp_markets_by_index().get(index_symbol, ())
    symbols = tuple(symbols)
    if not symbols or not tpsl_ends(symbols=symbols).crossed_by(price):
        return report  # a quiet tick: the probe of the indexes' ends, and nothing else
    rows = tpsl_candidates(price=price, symbols=symbols, before=computed_at)
    report.candidates = len(rows)
    if not rows:
        return report
    report.gate = price_gate(price=price, computed_at=computed_at, index_symbol=index_symbol, symbols=symbols, now=now)
    if report.gate:
        logger.warning("TP/SL triggers on %s skipped at %s: %s", index_symbol, price, report.gate)
        return report
    quote = tick_quote(index_symbol, price=price, computed_at=computed_at)
    size = max(1, settings.POSITION_TPSL_BATCH)
    for start in range(0, len(rows), size):
        report.closed += positions_trigger(rows[start : start + size], quote=quote, symbols=symbols)
    report.skipped = len(rows) - len(report.closed)
    if report.closed:
        logger.info("TP/SL closed %d of %d on %s at %s", len(report.closed), len(rows), index_symbol, price)
    return report


def positions_trigger(rows: list[tuple], *, quote: PriceQuote, symbols: Sequence[str]) -> list[tuple[str, str]]:
    """Close ``rows`` (``(position id, user id, kind)``) in one set-based batch
    (``tpsl_close_batch``); if the batch fails, each by the trader's close command, one per
    transaction. ``(position id, kind)`` of each closed here."""
    try:
        return tpsl_close_batch(rows=rows, quote=quote, symbols=symbols)
    except PriceStale:  # the tick aged while the batch waited for its locks: the next tick judges
        logger.warning("TP/SL batch of %d not done: the tick aged past its budget", len(rows))
        return []
    except Exception:
        logger.exception("TP/SL batch of %d failed; closing them one by one", len(rows))
    users = User.objects.in_bulk({user_id for _id, user_id, _kind in rows})
    return [
        (str(position_id), kind)
        for position_id, user_id, kind in rows
        if _close(users[user_id], position_id, kind=kind, quote=quote)
    ]


def tick_quote(index_symbol: str, *, price: Decimal, computed_at: datetime) -> PriceQuote:
    """The tick as a quote (the gate just saw it is the latest record: read it for its sources)."""
    latest = price_get_latest(symbol=index_symbol)
    if latest.price == price and latest.computed_at == computed_at:
        return latest
    return PriceQuote(symbol=index_symbol, price=price, bid=None, ask=None, sources=(), computed_at=computed_at,
                      mode=latest.mode)  # fmt: skip


def _close(user: User, position_id: UUID, *, kind: str, quote: PriceQuote) -> bool:
    """The trader's close, as the trigger: True when this run closed the position."""
    try:
        closed = position_close(
            user=user, position_id=position_id, client_order_id=trigger_client_order_id(kind, position_id),
            quote=quote, trigger=Trigger(kind=kind, computed_at=quote.computed_at),
        )  # fmt: skip
    except TriggerGone:
        return False
    except DomainError as error:  # a lock wait that timed out, a price that aged: the next tick retries
        logger.warning("TP/SL close of position %s not done: %s", position_id, error.code)
        return False
    except Exception:
        logger.exception("TP/SL close of position %s failed", position_id)
        return False
    return not closed.replayed
