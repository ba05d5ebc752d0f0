"""Trading tasks: the liquidation engine per tick, its lanes, and its periodic backstop sweep."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from celery import shared_task
from django.conf import settings

from core.hooks import Tick
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest
from trading.services.liquidation import LIQUIDATE_LANE_TASK, liquidation_lane_run, liquidation_run


@shared_task(name="trading.liquidate_on_tick", ignore_result=True, acks_late=True)
def liquidate_on_tick(price: str, computed_at: str) -> int:
    """Liquidate what the tick ``price`` crossed (safe to rerun: each position is re-checked under lock)."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    report = liquidation_run(price=Decimal(price), computed_at=tick_time)
    return len(report.liquidated)


def liquidate_on_price_tick(*, quote: Tick) -> None:
    """The ``price_tick_accepted`` hook (``core.hooks``, registered in ``TradingConfig.ready``):
    run ``trading.liquidate_on_tick`` for the tick, inline when eager or when
    ``POSITION_ENGINE_ASYNC`` is off, else on a worker."""
    args = (str(quote.price), quote.computed_at.isoformat())
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.POSITION_ENGINE_ASYNC:
        liquidate_on_tick.run(*args)
    else:
        liquidate_on_tick.delay(*args)


@shared_task(name=LIQUIDATE_LANE_TASK, ignore_result=True, acks_late=True)
def liquidate_lane(ids: list[str], price: str, computed_at: str) -> int:
    """One lane of a tick (``liquidation_run`` fans out big ticks): same checks, same batches."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    return len(liquidation_lane_run(ids=ids, price=Decimal(price), computed_at=tick_time))


@shared_task(name="trading.liquidation_sweep", ignore_result=True)
def liquidation_sweep() -> int:
    """Backstop for a missed tick: run the engine on the latest fresh index."""
    try:
        quote = price_get_latest()
    except (PriceUnavailable, PriceStale):
        return 0
    return len(liquidation_run(price=quote.price, computed_at=quote.computed_at).liquidated)
