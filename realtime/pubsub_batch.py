"""A batch of group messages onto channels-redis' pub/sub layer in one Redis call per shard.

``RedisPubSubChannelLayer.group_send`` is one ``PUBLISH`` and one round trip per message; the
liquidation engine publishes thousands a tick. Here plain redis-py sends every ``PUBLISH`` of a
shard in ONE script call (``_PUBLISH_ALL``, in order, so each group still gets its events in
``seq`` order), on a connection pool built from the layer's configured ``hosts``.

What goes on the wire is exactly what the layer's receivers read:

* the message bytes: the layer's public ``serialize`` (its serializer format and any encryption);
* the channel a group's members subscribe to: ``{prefix}__group__{group}``;
* the server (shard) a channel lives on, with several hosts: the CRC32 ring channels-redis uses.

The last two are channels-redis 4.x behaviour, not documented API, so
``tests/realtime/test_pubsub_batch.py`` pins them against a real layer's receivers (over one
and over two Redis servers): an upgrade that changes them fails there. ``pubsub_batch_for``
answers ``None`` for any other layer (the in-memory one of embedded mode, the ``core`` Redis
layer) or a host it does not build a plain pool for (Sentinel): the caller then uses the layer's
own ``group_send``.
"""

from __future__ import annotations

import binascii
import weakref
from collections.abc import Iterable
from typing import Any

import redis
from channels import DEFAULT_CHANNEL_LAYER
from channels_redis.pubsub import RedisPubSubChannelLayer  # type: ignore[import-untyped]
from django.conf import settings

# Channel names travel as ARGV, not KEYS: channels are not keys (a cluster would route them
# anywhere), and the layer's shards are separate servers anyway. A pipeline of 1,200 PUBLISHes
# cost ~15 ms of client CPU with hiredis, the script ~5 ms.
_PUBLISH_ALL = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2"
_PUBLISH_CHUNK = 2000  # messages per script call: bounds how long one call holds Redis (~5 ms)


class PubSubBatch:
    """Publishes for one ``RedisPubSubChannelLayer`` (built from its ``CONFIG``)."""

    def __init__(self, layer: RedisPubSubChannelLayer, *, prefix: str, pools: list[redis.ConnectionPool]) -> None:
        self.layer = layer
        self.prefix = prefix
        self.scripts = [redis.Redis(connection_pool=pool).register_script(_PUBLISH_ALL) for pool in pools]

    def group_channel(self, group: str) -> str:
        """The Redis channel the layer's ``group_add`` subscribes a group's members to."""
        return f"{self.prefix}__group__{group}"

    def shard_of(self, channel: str) -> int:
        """The host (of ``hosts``, in order) the layer subscribes ``channel`` on."""
        if len(self.scripts) == 1:
            return 0
        return int((binascii.crc32(channel.encode()) & 0xFFF) / (4096 / len(self.scripts)))

    def send(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> list:
        """``(group, message)`` items (read once: a generator is fine), each shard's in order; per
        item ``True`` or the error that failed its script call. Never raises for a Redis failure."""
        by_shard: dict[int, list[tuple[int, str, bytes]]] = {}
        count = 0
        for index, (group, message) in enumerate(messages):
            channel = self.group_channel(group)
            by_shard.setdefault(self.shard_of(channel), []).append((index, channel, self.layer.serialize(message)))
            count = index + 1
        results: list = [None] * count
        for shard, items in by_shard.items():
            for start in range(0, len(items), _PUBLISH_CHUNK):
                chunk = items[start : start + _PUBLISH_CHUNK]
                try:
                    self.scripts[shard](keys=[], args=[part for _i, channel, data in chunk for part in (channel, data)])
                    outcome: object = True
                except redis.RedisError as error:
                    outcome = error
                for index, _channel, _data in chunk:
                    results[index] = outcome
        return results


_batches: weakref.WeakKeyDictionary[Any, PubSubBatch | None] = weakref.WeakKeyDictionary()


def pubsub_batch_for(layer: Any) -> PubSubBatch | None:
    """The batch publisher of the default channel layer ``layer``, or ``None`` when it is not
    channels-redis' pub/sub layer (or one of its hosts is not a plain Redis server)."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    if layer not in _batches:
        config = settings.CHANNEL_LAYERS[DEFAULT_CHANNEL_LAYER].get("CONFIG", {})
        hosts = config.get("hosts") or ["redis://localhost:6379"]  # the layer's default
        pools = [pool for pool in map(_pool, hosts) if pool is not None]
        ok = len(pools) == len(hosts)
        _batches[layer] = PubSubBatch(layer, prefix=config.get("prefix", "asgi"), pools=pools) if ok else None
    return _batches[layer]


def _pool(host: Any) -> redis.ConnectionPool | None:
    """A redis-py pool for one entry of the layer's ``hosts`` (a URL, ``(host, port)``, or a dict
    of connection arguments with an ``address`` URL or ``host``/``port``); ``None`` for Sentinel."""
    if isinstance(host, str):
        return redis.ConnectionPool.from_url(host)
    if isinstance(host, (tuple, list)):
        return redis.ConnectionPool(host=host[0], port=host[1])
    options = dict(host)
    if "master_name" in options:
        return None
    address = options.pop("address", None)
    return redis.ConnectionPool.from_url(address, **options) if address else redis.ConnectionPool(**options)
