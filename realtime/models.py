"""Per-user event log: every user event gets a monotonic ``seq`` and is kept for
resume, so the WebSocket is a notification channel and PostgreSQL stays the truth."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from realtime.fields import JSONTextField


class UserEventCounter(models.Model):
    """The last ``seq`` handed out for a user (one row per user, bumped by upsert)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "realtime_user_event_counter"

    def __str__(self) -> str:
        return f"user {self.user_id}: last seq {self.last_seq}"


class UserEvent(models.Model):
    # db_index=False: UNIQUE(user, seq) leads with user. db_constraint=False: no foreign-key
    # constraint in the database. This is a notification log, not a record of money (PostgreSQL
    # stays the truth in the domain tables): rows are written only by ``realtime.publish`` for a
    # user whose change it announces, in that change's transaction, and pruned after
    # ``EVENT_RETENTION_HOURS``; users are never deleted while they hold a ledger account (it
    # PROTECTs them), and Django would cascade a deletion to these rows anyway. The constraint's
    # deferred per-row check cost ~11 us an event at commit (0.13 s of a 10,000-liquidation tick,
    # docs/positions.md), for a guarantee the writer already gives.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    payload = JSONTextField(help_text="The event exactly as sent: {type, seq, ts, data}")
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
