"""When did the scheduler (celery beat, or the in-process one) last run a job."""

from __future__ import annotations

from datetime import datetime, timezone

from django.core.cache import cache

BEAT_KEY = "platform:beat:last_run"


def beat_mark(now: datetime | None = None) -> None:
    moment = now or datetime.now(timezone.utc)
    cache.set(BEAT_KEY, moment.isoformat(), timeout=None)


def beat_last_run() -> datetime | None:
    raw = cache.get(BEAT_KEY)
    return datetime.fromisoformat(raw) if raw else None
