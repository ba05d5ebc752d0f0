"""The user event log: payloads kept as PostgreSQL ``json`` (as written), no database FK to users."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from realtime.models import UserEvent
from realtime.publish import user_event_emit, user_events_emit_many

pytestmark = pytest.mark.django_db


def _stored_text(user_id: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM realtime_user_event WHERE user_id = %s ORDER BY seq", [user_id])
        return [row[0] for row in cursor.fetchall()]


def test_the_payload_column_is_json_and_keeps_the_text_the_batch_sent():
    """PostgreSQL stores the batch's JSON text byte for byte (``json``, not ``jsonb``: no
    re-ordering of keys, no added spaces); the ORM still reads it back as a dict."""
    from accounts.models import User

    if connection.vendor != "postgresql":
        pytest.skip("the json column is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'realtime_user_event' AND column_name = 'payload'"
        )
        assert cursor.fetchone()[0] == "json"
    user = User.objects.create_user(username="jsonlog")
    data = {"zeta": "1.000000000", "alpha": None, "nested": {"b": "x", "a": 'é\\"q'}}
    with transaction.atomic():
        texts = user_events_emit_many([(user.pk, "position_liquidated", data), (user.pk, "portfolio_update", {})])
    assert _stored_text(user.pk) == texts
    stored = list(UserEvent.objects.filter(user=user).order_by("seq"))
    assert [e.payload for e in stored] == [json.loads(text) for text in texts]
    assert stored[0].payload["data"]["nested"] == {"b": "x", "a": 'é\\"q'}


def test_a_single_event_written_through_the_orm_reads_back_as_it_was_sent():
    from accounts.models import User

    user = User.objects.create_user(username="ormlog")
    with transaction.atomic():
        sent = user_event_emit(user_id=user.pk, event_type="order_fill", data={"price": "150.1", "n": 3})
    assert UserEvent.objects.get(user=user).payload == sent
    if connection.vendor == "postgresql":
        assert json.loads(_stored_text(user.pk)[0]) == sent


def test_a_users_events_cannot_be_orphaned_through_the_orm():
    """No FK constraint in the database: a user with a ledger account cannot be deleted (the
    account PROTECTs it), so nothing is left pointing nowhere; the events stay."""
    from django.db.models import ProtectedError

    from accounts.models import User

    user = User.objects.create_user(username="stays")
    with transaction.atomic():
        user_events_emit_many([(user.pk, "portfolio_update", {})])
    with pytest.raises(ProtectedError):
        user.delete()
    assert UserEvent.objects.filter(user=user).count() == 1


def test_the_batch_copy_fails_as_django_errors_do_and_stores_nothing():
    """The batch store is a ``COPY``: a duplicate ``(user, seq)`` or a payload that is not JSON
    raises Django's ``IntegrityError`` / ``DataError`` (as an ``execute`` would), and the batch's
    transaction stores none of its rows."""
    from datetime import datetime, timezone

    from django.db import DataError, IntegrityError

    from accounts.models import User
    from realtime.pg import event_statements

    if connection.vendor != "postgresql":
        pytest.skip("the COPY is PostgreSQL's")
    user = User.objects.create(username="copy", address="copy")
    store = event_statements().events_store
    now = datetime.now(timezone.utc)
    rows = [(user.pk, 1, "t", '{"type":"t","seq":1}'), (user.pk, 1, "t", '{"type":"t","seq":1}')]
    with pytest.raises(IntegrityError), transaction.atomic():
        store(rows, now)
    with pytest.raises(DataError), transaction.atomic():
        store([(user.pk, 2, "t", '{"type":"t","seq":2}'), (user.pk, 3, "t", "{not json")], now)
    assert UserEvent.objects.filter(user_id=user.pk).count() == 0
    with transaction.atomic():
        store([(user.pk, 4, "t", '{"type":"t", "seq":4}')], now)
    assert _stored_text(user.pk) == ['{"type":"t", "seq":4}']
