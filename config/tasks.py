"""Platform tasks: the beat heartbeat that readiness reports as "last beat run"."""

from __future__ import annotations

from celery import shared_task

from config import heartbeat


@shared_task(name="platform.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    heartbeat.beat_mark()
