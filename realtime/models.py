"""Per-user event log: every user event gets a monotonic ``seq`` and is kept for
resume, so the WebSocket is a notification channel and PostgreSQL stays the truth."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserEventCounter(models.Model):
    """The last ``seq`` handed out for a user (one row per user, bumped by upsert)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "realtime_user_event_counter"

    def __str__(self) -> str:
        return f"user {self.user_id}: last seq {self.last_seq}"


class UserEvent(models.Model):
    # db_index=False: UNIQUE(user, seq) leads with user.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    payload = models.JSONField(help_text="The event exactly as sent: {type, seq, ts, data}")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "realtime_user_event"
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="realtime_user_event_user_seq_uniq"),
            models.CheckConstraint(condition=models.Q(seq__gt=0), name="realtime_user_event_seq_positive"),
        ]
        ordering = ["user_id", "seq"]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} for user {self.user_id}"
