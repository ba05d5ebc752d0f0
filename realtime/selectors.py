"""Reads for the WebSocket layer: missed user events for ``resume``."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from realtime.models import UserEvent


@dataclass(frozen=True)
class ResumeResult:
    events: list[dict]
    resync_reason: str | None  # None = complete replay
    last_seq: int


def user_events_after(*, user_id: int, after_seq: int) -> ResumeResult:
    """Events with ``seq > after_seq`` in order, or a reason to resync from REST.

    A gap is too old when the event right after ``after_seq`` was pruned, or when
    more than ``WS_RESUME_MAX_EVENTS`` were missed.
    """
    limit = settings.WS_RESUME_MAX_EVENTS
    rows = list(
        UserEvent.objects.filter(user_id=user_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "payload")[: limit + 1]
    )
    last = UserEvent.objects.filter(user_id=user_id).order_by("-seq").values_list("seq", flat=True).first() or 0
    if after_seq > last:
        return ResumeResult(events=[], resync_reason="ahead_of_server", last_seq=last)
    if rows and rows[0][0] != after_seq + 1:
        return ResumeResult(events=[], resync_reason="gap_too_old", last_seq=last)
    if not rows and after_seq < last:
        return ResumeResult(events=[], resync_reason="gap_too_old", last_seq=last)
    if len(rows) > limit:
        return ResumeResult(events=[], resync_reason="too_many_missed", last_seq=last)
    return ResumeResult(events=[payload for _, payload in rows], resync_reason=None, last_seq=last)
