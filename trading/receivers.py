"""Signal receivers: every accepted price tick feeds the liquidation engine."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger("trading.liquidation")


def liquidate_on_price_tick(sender, *, quote, **_kwargs) -> None:
    """Enqueue ``trading.liquidate_on_tick`` with the tick's price and time (inline when eager)."""
    from trading.tasks import liquidate_on_tick

    args = (str(quote.price), quote.computed_at.isoformat())
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.POSITION_ENGINE_ASYNC:
        liquidate_on_tick.run(*args)
    else:
        liquidate_on_tick.delay(*args)
