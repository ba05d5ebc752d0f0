"""User events carry a per-user monotonic seq; resume replays what a client missed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from channels.db import database_sync_to_async

from realtime.models import UserEvent
from realtime.publish import user_event_emit
from realtime.selectors import user_events_after
from realtime.services import user_events_prune
from tests.realtime.conftest import connect, receive, receive_until, signed_in


@pytest.mark.django_db
def test_seq_is_monotonic_per_user_and_independent_between_users():
    from accounts.models import User

    a = User.objects.create_user(username="a1")
    b = User.objects.create_user(username="b1")
    seqs_a = [user_event_emit(user_id=a.id, event_type="order_fill", data={"n": i})["seq"] for i in range(3)]
    seqs_b = [user_event_emit(user_id=b.id, event_type="order_fill", data={})["seq"] for _ in range(2)]
    assert seqs_a == [1, 2, 3] and seqs_b == [1, 2]


@pytest.mark.django_db
def test_an_event_in_a_rolled_back_transaction_is_neither_stored_nor_numbered():
    from django.db import transaction

    from accounts.models import User

    user = User.objects.create_user(username="rb")
    with pytest.raises(RuntimeError), transaction.atomic():
        user_event_emit(user_id=user.id, event_type="order_fill", data={})
        raise RuntimeError("fill failed")
    assert not UserEvent.objects.filter(user=user).exists()
    assert user_event_emit(user_id=user.id, event_type="order_fill", data={})["seq"] == 1


@pytest.mark.django_db
def test_decimals_in_event_data_are_stored_and_sent_as_strings():
    from decimal import Decimal

    from accounts.models import User

    user = User.objects.create_user(username="dec")
    payload = user_event_emit(user_id=user.id, event_type="order_fill", data={"price": Decimal("150.123456789")})
    assert payload["data"]["price"] == "150.123456789"
    assert UserEvent.objects.get(user=user).payload["data"]["price"] == "150.123456789"


@pytest.mark.django_db
def test_resume_reports_old_gaps_and_floods_as_resync(settings):
    from accounts.models import User

    settings.WS_RESUME_MAX_EVENTS = 3
    user = User.objects.create_user(username="gap")
    for i in range(5):
        user_event_emit(user_id=user.id, event_type="order_fill", data={"i": i})
    assert [e["seq"] for e in user_events_after(user_id=user.id, after_seq=3).events] == [4, 5]
    assert user_events_after(user_id=user.id, after_seq=0).resync_reason == "too_many_missed"
    assert user_events_after(user_id=user.id, after_seq=9).resync_reason == "ahead_of_server"
    UserEvent.objects.filter(user=user, seq__lte=2).update(created_at=datetime.now(timezone.utc) - timedelta(days=3))
    assert user_events_prune() == 2
    assert user_events_after(user_id=user.id, after_seq=1).resync_reason == "gap_too_old"
    assert user_events_after(user_id=user.id, after_seq=2).resync_reason is None
    assert user_events_after(user_id=user.id, after_seq=5).events == []


@pytest.mark.django_db(transaction=True)
async def test_reconnecting_client_resumes_from_its_last_seq(fast_ws):
    session = await signed_in()
    user = session.user
    emit = database_sync_to_async(user_event_emit)
    first = await emit(user_id=user.id, event_type="order_fill", data={"n": 1})
    missed = [await emit(user_id=user.id, event_type="order_fill", data={"n": n}) for n in (2, 3)]
    ws = await connect(headers=session.cookie_header)
    await receive_until(ws, "authenticated")
    await ws.send_json_to({"type": "resume", "after_seq": first["seq"]})
    replay = [await receive(ws), await receive(ws)]
    assert replay == missed
    done = await receive_until(ws, "resumed")
    assert done["data"] == {"after_seq": 1, "replayed": 2, "last_seq": 3}
    live = await emit(user_id=user.id, event_type="portfolio_update", data={"equity": "1"})
    assert await receive(ws) == live
    await ws.disconnect()
