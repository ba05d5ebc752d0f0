"""``user_events_emit_many``: the batched ``user_event_emit`` (same seq contract), and ``publish_many``."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction

from realtime.groups import user_group
from realtime.models import UserEvent
from realtime.publish import publish_many, user_event_emit, user_events_emit_many


def _users(n: int) -> list:
    from accounts.models import User

    return [User.objects.create_user(username=f"many{i}") for i in range(n)]


def _stored(user) -> list[tuple[int, str, dict]]:
    return [(e.seq, e.type, e.payload) for e in UserEvent.objects.filter(user=user).order_by("seq")]


@pytest.mark.django_db
def test_batched_events_continue_each_users_seq_gap_free_in_the_order_given():
    """Interleaved events of three users (one with earlier events, one never seen): each user's
    seqs continue from its counter with no gap or repeat, in the order given; payloads stored as returned."""
    a, b, c = _users(3)
    user_event_emit(user_id=a.id, event_type="order_fill", data={})
    user_event_emit(user_id=a.id, event_type="order_fill", data={})
    user_event_emit(user_id=b.id, event_type="order_fill", data={})
    items = [
        (a.id, "position_liquidated", {"n": 1}),
        (c.id, "position_liquidated", {"n": 2}),
        (b.id, "position_liquidated", {"n": 3, "price": Decimal("85.5")}),
        (a.id, "position_liquidated", {"n": 4}),
        (a.id, "portfolio_update", {"n": 5}),
        (c.id, "portfolio_update", {"n": 6}),
    ]
    with transaction.atomic():
        texts = user_events_emit_many(items)
    payloads = [json.loads(text) for text in texts]
    assert [(p["type"], p["seq"], p["data"]["n"]) for p in payloads] == [
        ("position_liquidated", 3, 1),
        ("position_liquidated", 1, 2),
        ("position_liquidated", 2, 3),
        ("position_liquidated", 4, 4),
        ("portfolio_update", 5, 5),
        ("portfolio_update", 2, 6),
    ]
    assert payloads[2]["data"]["price"] == "85.5"
    assert [s for s, _t, _p in _stored(a)] == [1, 2, 3, 4, 5]
    assert [s for s, _t, _p in _stored(b)] == [1, 2]
    assert [(s, t) for s, t, _p in _stored(c)] == [(1, "position_liquidated"), (2, "portfolio_update")]
    assert _stored(c)[0][2] == payloads[1]  # the event exactly as sent
    # the single emit continues after the batch
    assert user_event_emit(user_id=c.id, event_type="order_fill", data={})["seq"] == 3


@pytest.mark.django_db
def test_a_rolled_back_batch_is_neither_stored_nor_numbered():
    """An exception after the batch rolls it back: no event stored, the counters unchanged."""
    a, b = _users(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        user_events_emit_many([(a.id, "position_liquidated", {}), (b.id, "portfolio_update", {})])
        raise RuntimeError("batch failed")
    assert not UserEvent.objects.filter(user__in=[a, b]).exists()
    assert user_event_emit(user_id=a.id, event_type="order_fill", data={})["seq"] == 1


@pytest.mark.django_db
def test_events_are_published_only_after_commit(monkeypatch):
    """Nothing is sent while the transaction is open; on commit one publish_many call sends all."""
    (a,) = _users(1)
    sent: list = []
    monkeypatch.setattr("realtime.publish.publish_many", lambda outgoing: sent.append(outgoing) or 0)
    with transaction.atomic():
        user_events_emit_many([(a.id, "position_liquidated", {}), (a.id, "portfolio_update", {})])
        assert sent == []
    # pytest-django's test transaction never commits: run the hooks as a commit would
    from django.db import connection

    for _sids, hook, _robust in connection.run_on_commit:
        hook()
    assert len(sent) == 1
    assert [(group, json.loads(text)["seq"]) for group, text in sent[0]] == [
        (user_group(a.id), 1),
        (user_group(a.id), 2),
    ]


@pytest.mark.django_db(transaction=True)  # autocommit: no test-wide atomic block around the call
def test_emit_many_outside_a_transaction_is_refused():
    """Like ledger_post: the caller's transaction is required (the seqs would outlive a failed change)."""
    with pytest.raises(RuntimeError):
        user_events_emit_many([(1, "order_fill", {})])


def test_publish_many_never_raises_and_counts_failures(monkeypatch):
    """A failing channel layer is logged and reported, never raised into the caller."""

    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("redis down")

    monkeypatch.setattr("realtime.publish.get_channel_layer", lambda: Broken())
    outgoing = [(user_group(i), '{"type":"x"}') for i in (1, 2, 3)]
    assert publish_many(outgoing) == 3

    def explode():
        raise RuntimeError("no layer config")

    monkeypatch.setattr("realtime.publish.get_channel_layer", explode)
    assert publish_many(outgoing) == 3


def test_data_encoded_early_is_the_same_event_text():
    """``raw_json(data)`` (a batch encodes its payloads as it builds them) gives, around an event,
    byte for byte the text of the dict itself: decimals, nesting, non-ASCII, quotes."""
    from realtime.publish import event_text, raw_json

    data = {"epoch": 3, "balances": {"USD": {"free": Decimal("1.50"), "n": None}}, "memo": 'é "q"\n', "xs": (1, 2)}
    raw = raw_json(data)
    assert type(raw) is str
    assert event_text("portfolio_update", raw, seq=7, ts="T") == event_text("portfolio_update", data, seq=7, ts="T")
