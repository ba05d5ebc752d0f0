"""Trading tasks: the liquidation engine per index tick, its lanes, and its periodic backstop sweep."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from celery import shared_task
from django.conf import settings

from core.hooks import Tick
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest
from trading.perp_markets import perp_markets_by_index
from trading.services.liquidation import DEFAULT_INDEX, LIQUIDATE_LANE_TASK, liquidation_lane_run, liquidation_run

logger = logging.getLogger("trading.liquidation")


@shared_task(name="trading.liquidate_on_tick", ignore_result=True, acks_late=True)
def liquidate_on_tick(price: str, computed_at: str, index_symbol: str = DEFAULT_INDEX) -> int:
    """Liquidate what the tick ``price`` of ``index_symbol`` crossed on the perp markets on that
    index (safe to rerun: each position is re-checked under lock). ``index_symbol`` defaults to
    SOL's for messages queued before markets."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    report = liquidation_run(price=Decimal(price), computed_at=tick_time, index_symbol=index_symbol)
    return len(report.liquidated)


def liquidate_on_price_tick(*, quote: Tick) -> None:
    """The ``price_tick_accepted`` hook (``core.hooks``, registered in ``TradingConfig.ready``):
    run ``trading.liquidate_on_tick`` for the tick's index, inline when eager or when
    ``POSITION_ENGINE_ASYNC`` is off, else on a worker. An index no perp market trades on
    (a spot-only token) queues nothing."""
    index_symbol = quote.symbol
    if index_symbol not in perp_markets_by_index():
        return
    args = (str(quote.price), quote.computed_at.isoformat(), index_symbol)
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.POSITION_ENGINE_ASYNC:
        liquidate_on_tick.run(*args)
    else:
        liquidate_on_tick.delay(*args)


@shared_task(name=LIQUIDATE_LANE_TASK, ignore_result=True, acks_late=True)
def liquidate_lane(ids: list[str], price: str, computed_at: str, index_symbol: str = DEFAULT_INDEX) -> int:
    """One lane of a tick (``liquidation_run`` fans out big ticks): same checks, same batches."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    return len(liquidation_lane_run(ids=ids, price=Decimal(price), computed_at=tick_time, index_symbol=index_symbol))


@shared_task(name="trading.liquidation_sweep", ignore_result=True)
def liquidation_sweep() -> int:
    """Backstop for a missed tick: every perp market's index at its own latest fresh price (an
    index without a fresh price is skipped; the others still run)."""
    done = 0
    for index_symbol in perp_markets_by_index():
        try:
            quote = price_get_latest(symbol=index_symbol)
        except (PriceUnavailable, PriceStale):
            continue
        try:
            report = liquidation_run(price=quote.price, computed_at=quote.computed_at, index_symbol=index_symbol)
        except Exception:  # one market's failure never starves the others
            logger.exception("liquidation sweep of %s failed", index_symbol)
            continue
        done += len(report.liquidated)
    return done
