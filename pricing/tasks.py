"""Periodic pricing jobs (celery beat in the real stack, config.scheduler in-process otherwise)."""

from __future__ import annotations

from datetime import datetime, timezone

from celery import shared_task

from pricing.services import candle_prune, price_ingest_cycle


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
