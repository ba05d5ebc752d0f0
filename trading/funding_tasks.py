"""The funding beat: every ``FUNDING_SETTLE_SECONDS`` settle each perp market's due funding time
not yet settled (celery beat in the real stack; ``config.scheduler`` runs it inline in embedded
mode). Safe to rerun and to overlap: a funding time is claimed once (``trading.services.funding``)."""

from __future__ import annotations

from celery import shared_task

from trading.services.funding import funding_settle_due


@shared_task(name="trading.funding_settle_due", ignore_result=True)
def funding_settle_due_task() -> int:
    """The number of markets settled by this run."""
    return sum(1 for outcome in funding_settle_due() if outcome.settled)
