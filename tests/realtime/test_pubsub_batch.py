"""Batch publishing (``publish_many`` -> ``realtime.pubsub_batch``) speaks channels-redis' wire.

``pubsub_batch`` writes to Redis itself (one script call per shard), so it must produce exactly
what the pub/sub layer's own receivers read: the group's channel name, the message bytes and,
over several Redis servers, the server a channel lives on. These tests receive through a real
``RedisPubSubChannelLayer`` (and the real consumer), so a channels-redis upgrade that changes
any of that fails here.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction

from realtime.groups import user_group
from realtime.publish import publish_many, user_events_emit_many
from realtime.pubsub_batch import pubsub_batch_for
from tests.conftest import closed_port
from tests.proof.stack import PrivateRedis
from tests.realtime.conftest import connect, receive_until, signed_in

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"


@pytest.fixture
def layer_on(settings):
    """Point the default channel layer at the pub/sub layer on ``hosts`` (the test prefix kept)."""
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi") + "-batch"

    def configure(hosts: list) -> RedisPubSubChannelLayer:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": PUBSUB, "CONFIG": {"hosts": hosts, "prefix": prefix}}}
        channel_layers.backends.clear()
        layer = get_channel_layer()
        assert isinstance(layer, RedisPubSubChannelLayer)
        return layer

    yield configure
    channel_layers.backends.clear()


def _outgoing(user_ids: list[int], per_user: int) -> list[tuple[str, str]]:
    """Interleaved events of several users, as the engine's batches publish them."""
    return [
        (user_group(user), json.dumps({"type": "position_liquidated", "seq": seq, "data": {"user": user}}))
        for seq in range(1, per_user + 1)
        for user in user_ids
    ]


async def _subscribed(layer, user_ids: list[int]) -> dict[int, str]:
    channels = {}
    for user in user_ids:
        channels[user] = await layer.new_channel()
        await layer.group_add(user_group(user), channels[user])
    return channels


async def _publish_batch_only(layer, outgoing: list[tuple[str, str]]) -> None:
    """``publish_many`` with the layer's ``group_send`` refused: every message goes by the batch."""

    async def refused(group, message):
        raise AssertionError("group_send used for a batch")

    layer.group_send = refused
    try:
        assert await sync_to_async(publish_many, thread_sensitive=False)(outgoing) == 0
    finally:
        del layer.group_send


async def _account_socket():
    """A signed-in user and their socket, subscribed to the account channel."""
    session = await signed_in()
    ws = await connect(headers=session.cookie_header)
    await receive_until(ws, "authenticated")
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    return session, ws


async def _assert_received_exactly(layer, channels: dict[int, str], outgoing: list[tuple[str, str]]) -> None:
    """Each receiver gets its group's messages, in order, as ``{"type": "relay", "text"}``, and
    nothing else: a marker sent afterwards through the layer's own ``group_send`` comes next."""
    for user, channel in channels.items():
        group = user_group(user)
        await layer.group_send(group, {"type": "relay", "text": "marker"})
        expected = [{"type": "relay", "text": text} for to, text in outgoing if to == group]
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in expected]
        assert got == expected
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "relay", "text": "marker"}
        await layer.group_discard(group, channel)


async def test_a_batch_reaches_a_real_pubsub_layers_receivers_exactly_and_in_order(layer_on, settings):
    """One Redis server: three users' interleaved events, sent by the batch alone (no
    ``group_send``), arrive at each user's receiver in order, decoded by the layer itself."""
    layer = layer_on([{"address": settings.REDIS_URL}])
    users = [9101, 9102, 9103]
    channels = await _subscribed(layer, users)
    outgoing = _outgoing(users, per_user=4)
    await _publish_batch_only(layer, outgoing)
    await _assert_received_exactly(layer, channels, outgoing)


async def test_over_two_redis_servers_each_message_goes_to_the_server_its_group_listens_on(layer_on, settings):
    """Two hosts: the layer subscribes each group on one of them (its shard rule); every batched
    message reaches its receivers there, so the batch uses the same rule. Both servers are used."""
    private = PrivateRedis().start()
    try:
        layer = layer_on([{"address": settings.REDIS_URL}, {"address": private.url}])
        users = list(range(9200, 9224))
        channels = await _subscribed(layer, users)
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        on_private = redis.Redis.from_url(private.url).pubsub_channels(f"{prefix}__group__*")
        assert 0 < len(on_private) < len(users), on_private
        outgoing = _outgoing(users, per_user=2)
        await _publish_batch_only(layer, outgoing)
        await _assert_received_exactly(layer, channels, outgoing)
    finally:
        private.stop()


@pytest.mark.django_db(transaction=True)
async def test_the_consumer_relays_a_committed_batch_in_order(fast_ws):
    """Through the configured layer and the real consumer: a user's batched events (stored with
    their seqs, published after commit) reach the account socket as stored, in order."""
    session, ws = await _account_socket()

    @database_sync_to_async
    def emit() -> list[str]:
        with transaction.atomic():
            return user_events_emit_many([(session.user.id, "position_liquidated", {"n": n}) for n in range(5)])

    texts = await emit()
    frames = [await receive_until(ws, "position_liquidated") for _ in texts]
    assert frames == [json.loads(text) for text in texts]
    assert [frame["seq"] for frame in frames] == [1, 2, 3, 4, 5]
    await ws.disconnect()


def test_a_dead_redis_counts_every_message_as_failed_and_never_raises(layer_on):
    """The batch's Redis is down: ``publish_many`` reports every message failed, raises nothing."""
    layer_on([{"address": f"redis://127.0.0.1:{closed_port()}/0", "socket_connect_timeout": 1}])
    assert publish_many(_outgoing([1, 2], per_user=2)) == 4


async def test_any_other_layer_gets_group_sends(settings):
    """The in-memory layer (embedded mode) has no batch path: ``publish_many`` uses its
    ``group_send``, and the receiver gets every message in order."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    try:
        layer = get_channel_layer()
        assert pubsub_batch_for(layer) is None
        channel = await layer.new_channel()
        await layer.group_add(user_group(7), channel)
        outgoing = _outgoing([7], per_user=3)
        assert await sync_to_async(publish_many)(outgoing) == 0
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in outgoing]
        assert got == [{"type": "relay", "text": text} for _group, text in outgoing]
    finally:
        channel_layers.backends.clear()


def _no_hop(*_args, **_kwargs):
    raise AssertionError("async_to_sync used: an event loop (and a thread hand-off) per publish")


async def test_single_publishes_are_a_direct_redis_call_with_the_layers_wire_shape(layer_on, settings, monkeypatch):
    """``publish`` (a price tick, a position's events, a reset) and a session revoke on the pub/sub
    layer: neither ``async_to_sync`` nor the layer's ``group_send`` is used, and the receiver gets
    exactly what ``group_send`` delivered before: ``{"type": "relay", "event", "text"}``."""
    from realtime.publish import event, publish
    from realtime.receivers import _close_group

    layer = layer_on([{"address": settings.REDIS_URL}])
    monkeypatch.setattr("realtime.publish.async_to_sync", _no_hop)

    async def refused(group, message):
        raise AssertionError("group_send used for a single publish")

    channels = await _subscribed(layer, [9301])
    layer.group_send = refused
    payload = event("price_update", {"price": "101.5"}, seq=3)
    try:
        assert await sync_to_async(publish, thread_sensitive=False)(user_group(9301), payload)
        await sync_to_async(_close_group, thread_sensitive=False)(user_group(9301))
    finally:
        del layer.group_send
    got = await asyncio.wait_for(layer.receive(channels[9301]), 5)
    assert got == {"type": "relay", "event": payload, "text": json.dumps(payload, separators=(",", ":"))}
    assert await asyncio.wait_for(layer.receive(channels[9301]), 5) == {"type": "session.revoked"}
    await layer.group_discard(user_group(9301), channels[9301])


@pytest.mark.django_db(transaction=True)
async def test_a_market_orders_events_go_out_after_commit_without_an_event_loop(fast_ws, monkeypatch):
    """The order path (``user_events_emit_many`` after commit, as ``POST /api/v1/orders`` stores
    ``order_fill`` and ``portfolio_update``) publishes by the batch's direct Redis call: with
    ``async_to_sync`` refused in ``realtime.publish``, the account socket still gets both."""
    monkeypatch.setattr("realtime.publish.async_to_sync", _no_hop)
    session, ws = await _account_socket()

    @database_sync_to_async
    def fill() -> list[str]:
        with transaction.atomic():
            return user_events_emit_many(
                [(session.user.id, "order_fill", {"n": 1}), (session.user.id, "portfolio_update", {"n": 2})]
            )

    texts = await fill()
    assert await receive_until(ws, "order_fill") == json.loads(texts[0])
    assert await receive_until(ws, "portfolio_update") == json.loads(texts[1])
    await ws.disconnect()


def test_a_single_publish_to_a_dead_redis_is_logged_never_raised(layer_on, caplog):
    """The pub/sub layer's Redis is down: ``publish`` answers False and logs; nothing raises."""
    from realtime.publish import event, publish

    layer_on([{"address": f"redis://127.0.0.1:{closed_port()}/0", "socket_connect_timeout": 1}])
    assert publish(user_group(1), event("price_update", {})) is False
    assert "channel layer publish to user.1 failed" in caplog.text


async def test_the_in_memory_layer_still_gets_single_publishes(settings):
    """Embedded mode's in-memory layer has no batch path: ``publish`` uses its ``group_send``."""
    from realtime.publish import event, publish

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    try:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(8), channel)
        payload = event("price_update", {"price": "1"})
        assert await sync_to_async(publish)(user_group(8), payload)
        got = await asyncio.wait_for(layer.receive(channel), 5)
        assert got["event"] == payload and json.loads(got["text"]) == payload
    finally:
        channel_layers.backends.clear()
