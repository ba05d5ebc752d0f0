"""Periodic pricing jobs (celery beat in the real stack, config.scheduler in-process otherwise)."""

from __future__ import annotations

from datetime import datetime, timezone

from celery import shared_task

from pricing.services import candle_prune, price_ingest_cycle
from pricing.services.venue_perps import venue_perps_poll


@shared_task(name="pricing.ingest", ignore_result=True)
def ingest() -> str:
    """One ingest cycle; skipped (not queued) while another holds the lock."""
    report = price_ingest_cycle()
    if report.skipped:
        return "skipped"
    return "ok" if report.ok else report.reason


@shared_task(name="pricing.prune_candles", ignore_result=True)
def prune_candles() -> int:
    return candle_prune(now=datetime.now(timezone.utc))


@shared_task(name="pricing.poll_venue_perps", ignore_result=True)
def poll_venue_perps() -> str:
    """The venues' perp marks and funding rates (live mode), kept in Redis for the ticks' marks."""
    summary = venue_perps_poll()
    return summary.get("skipped") or ",".join(f"{v}:{s['status']}" for v, s in summary["venues"].items())
