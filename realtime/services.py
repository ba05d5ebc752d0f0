"""Writes owned by the realtime app: pruning the user event log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.conf import settings

from realtime.models import UserEvent


def user_events_prune(*, now: datetime | None = None) -> int:
    """Delete events older than ``EVENT_RETENTION_HOURS``; returns how many."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(hours=settings.EVENT_RETENTION_HOURS)
    deleted, _ = UserEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
