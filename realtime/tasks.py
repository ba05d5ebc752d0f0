"""Periodic realtime jobs."""

from celery import shared_task

from realtime.services import user_events_prune


@shared_task(name="realtime.prune_events", ignore_result=True)
def prune_events() -> int:
    return user_events_prune()
