"""Publish events to the channel layer. Imports no domain app.

* ``event(type, data, seq=None)`` is the wire shape of every event.
* ``publish`` sends now; ``publish_on_commit`` sends after the surrounding
  transaction commits, so nothing is announced that did not commit. A failing
  channel layer is logged and never propagates into (or rolls back) the caller.
* ``user_event_emit`` is for user streams: inside the caller's transaction it
  takes the user's next ``seq`` and stores the event (for resume), then
  publishes it on commit. Use it for ``order_fill``, ``portfolio_update``
  (after a fill), ``position_liquidated``.
* ``user_events_emit_many`` is the same contract for many events of many users
  (the liquidation engine's batches): a fixed number of statements whatever the
  batch size, and one event-loop run to publish them all after commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from core.pgarray import num_array, text_array
from realtime.groups import user_group

logger = logging.getLogger("realtime.publish")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Decimals and UUIDs as strings, datetimes as RFC 3339 UTC: safe for JSON and msgpack.
    Plain values (the payload builders' strings and numbers) are taken as they are, unvisited."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, dict):
        return {(k if type(k) is str else str(k)): (v if type(v) in _PLAIN else jsonable(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def event(event_type: str, data: dict[str, Any], *, seq: int | None = None, ts: str | None = None) -> dict[str, Any]:
    """The wire shape of every event: ``{type, seq?, ts, data}`` (``ts``: now, or a batch's moment)."""
    body: dict[str, Any] = {
        "type": event_type,
        "ts": ts or _iso(datetime.now(timezone.utc)),
        "data": jsonable(data),
    }
    if seq is not None:
        body["seq"] = seq
    return body


def publish(group: str, payload: dict[str, Any]) -> bool:
    """Send now; returns False (and logs) if the channel layer failed."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        text = json.dumps(payload, separators=(",", ":"))  # serialised once, not per socket
        async_to_sync(layer.group_send)(group, {"type": "relay", "event": payload, "text": text})
        return True
    except Exception:
        logger.warning("channel layer publish to %s failed", group, exc_info=True)
        return False


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, payload))


def _next_seq(user_id: int) -> int:
    """Bump and return the user's counter in one statement (row-locked until commit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO realtime_user_event_counter (user_id, last_seq) VALUES (%s, 1) "
            "ON CONFLICT (user_id) DO UPDATE SET last_seq = realtime_user_event_counter.last_seq + 1 "
            "RETURNING last_seq",
            [user_id],
        )
        return int(cursor.fetchone()[0])


def user_event_emit(*, user_id: int, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store a user event with the next ``seq`` and publish it after commit.

    Must run inside the transaction that made the change it announces; the
    counter row is locked last (after balances, positions and orders).
    """
    from realtime.models import UserEvent

    with transaction.atomic():
        seq = _next_seq(user_id)
        payload = event(event_type, data, seq=seq)
        UserEvent.objects.create(user_id=user_id, seq=seq, type=event_type, payload=payload)
    publish_on_commit(user_group(user_id), payload)
    return payload


class RawJSON(str):
    """A JSON object's text, already serialised, to pass as an event's ``data``: it is embedded as
    it is, never built as a dict nor encoded again (the liquidation engine's ``position_liquidated``,
    thousands a tick). Whoever builds one must produce exactly the text
    ``json.dumps(jsonable(data), separators=(",", ":"))`` would (its tests pin that)."""

    __slots__ = ()


def event_text(event_type: str, data: dict[str, Any] | RawJSON, *, seq: int, ts: str) -> str:
    """``event(...)`` serialised compactly, key for key: ``{"type","ts","data","seq"}``."""
    if isinstance(data, RawJSON):
        return f'{{"type":{json.dumps(event_type)},"ts":"{ts}","data":{data},"seq":{seq}}}'
    return json.dumps(event(event_type, data, seq=seq, ts=ts), separators=(",", ":"))


def user_events_emit_many(events: Sequence[tuple[int, str, dict[str, Any] | RawJSON]]) -> list[str]:
    """``user_event_emit`` for many ``(user_id, event_type, data)``: same contract, set-based.

    Inside the caller's transaction: one upsert bumps each user's counter by its number of
    events (counter rows locked in user-id order, so concurrent batches never deadlock) and
    returns the new ``last_seq``; the seqs ``last_seq - n + 1 .. last_seq`` are handed out in
    the order given; one insert stores every event. After commit one ``async_to_sync`` call
    publishes them all (``publish_many_on_commit``). ``data`` is a dict or a ``RawJSON``.
    Returns the events' JSON texts (as stored and sent), in the order given.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("user_events_emit_many must run inside transaction.atomic()")
    counts = Counter(user_id for user_id, _type, _data in events)
    last = _bump_counters(counts)
    next_seq = {user_id: last[user_id] - n + 1 for user_id, n in counts.items()}
    rows: list[tuple[int, int, str, str]] = []
    ts = _iso(datetime.now(timezone.utc))  # one moment for the batch (one transaction)
    for user_id, event_type, data in events:
        seq = next_seq[user_id]
        next_seq[user_id] = seq + 1
        rows.append((user_id, seq, event_type, event_text(event_type, data, seq=seq, ts=ts)))
    _store_events(rows)
    publish_many_on_commit([(user_group(user_id), text) for user_id, _seq, _type, text in rows])
    return [text for _user_id, _seq, _type, text in rows]


def _bump_counters(counts: Counter) -> dict[int, int]:
    """``{user_id: new last_seq}`` after adding ``counts[user_id]`` to each user's counter."""
    users = sorted(counts)
    upsert = (
        "INSERT INTO realtime_user_event_counter AS c (user_id, last_seq) {source} "
        "ON CONFLICT (user_id) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq "
        "RETURNING user_id, last_seq"
    )
    last: dict[int, int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            source = "SELECT * FROM unnest(%s::bigint[], %s::bigint[]) ORDER BY 1"
            cursor.execute(upsert.format(source=source), [num_array(users), num_array(counts[u] for u in users)])
            last.update(cursor.fetchall())
        else:  # SQLite (embedded mode): multi-row VALUES, in chunks under its variable limit
            for start in range(0, len(users), 400):
                chunk = users[start : start + 400]
                values = "VALUES " + ", ".join(["(%s, %s)"] * len(chunk))
                params = [value for user_id in chunk for value in (user_id, counts[user_id])]
                cursor.execute(upsert.format(source=values), params)
                last.update(cursor.fetchall())
    return {int(user_id): int(seq) for user_id, seq in last.items()}


def _store_events(rows: list[tuple[int, int, str, str]]) -> None:
    from realtime.models import UserEvent

    now = datetime.now(timezone.utc)
    if connection.vendor != "postgresql":
        UserEvent.objects.bulk_create(
            [UserEvent(user_id=u, seq=s, type=t, payload=json.loads(text), created_at=now) for u, s, t, text in rows],
            batch_size=500,
        )
        return
    # The payloads are JSON already: they travel as ONE json array (psycopg's per-element
    # escaping of a text[] of long strings costs ~15 us an event), numbered by ordinality.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {UserEvent._meta.db_table} (user_id, seq, type, payload, created_at) "
            "SELECT e.user_id, e.seq, e.type, p.payload, %s "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) WITH ORDINALITY AS e(user_id, seq, type, n) "
            "JOIN json_array_elements(%s::json) WITH ORDINALITY AS p(payload, n) USING (n)",
            [
                now,
                num_array([user_id for user_id, _s, _t, _x in rows]),
                num_array([seq for _u, seq, _t, _x in rows]),
                text_array([event_type for _u, _s, event_type, _x in rows]),
                "[" + ",".join(text for _u, _s, _t, text in rows) + "]",
            ],
        )


def publish_many_on_commit(outgoing: list[tuple[str, str]]) -> None:
    """After commit, send ``(group, text)`` items in one event-loop run."""
    if outgoing:
        transaction.on_commit(lambda: publish_many(outgoing))


def publish_many(outgoing: list[tuple[str, str]]) -> int:
    """Send many events in ONE ``async_to_sync`` call; returns how many failed. Never raises.

    ``text`` is the event already serialised (the stored JSON), so nothing is encoded twice.
    """
    try:
        layer = get_channel_layer()
        if layer is None or not outgoing:
            return 0

        async def send_all() -> list:
            # The consumers relay ``text`` as it is.
            messages = [(group, {"type": "relay", "text": text}) for group, text in outgoing]
            batched = await _pubsub_send_batch(layer, messages)
            if batched is not None:
                return batched
            sends = [layer.group_send(group, message) for group, message in messages]
            return await asyncio.gather(*sends, return_exceptions=True)

        failures = sum(1 for result in async_to_sync(send_all)() if isinstance(result, BaseException))
    except Exception:
        logger.warning("channel layer publish of %d events failed", len(outgoing), exc_info=True)
        return len(outgoing)
    if failures:
        logger.warning("%d of %d channel layer publishes failed", failures, len(outgoing))
    return failures


# Every PUBLISH of a batch in one command: one request and one reply instead of one per event
# (a pipeline of 1,200 PUBLISHes cost ~15 ms of client CPU with hiredis, the script ~5 ms).
# Channel names travel as ARGV, not KEYS: channels are not keys (a cluster would route them
# anywhere), and the layer's shards are separate servers anyway.
_PUBLISH_ALL = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2"
_PUBLISH_CHUNK = 2000  # events per script call: bounds how long one call holds Redis (~5 ms)


async def _pubsub_send_batch(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> list | None:
    """channels-redis' pub/sub layer sends one ``PUBLISH`` per ``group_send``, one round trip
    each under a per-shard lock; for a batch, send every ``PUBLISH`` of a shard in one script
    call (``_PUBLISH_ALL``), in order, so each group still gets its events in ``seq`` order.

    It reaches into the layer's shard objects (``_get_layer``/``_get_shard``/``_redis``), so it
    checks for them and answers ``None`` (use ``group_send``) with any other layer or version.
    """
    try:
        loop_layer = layer._get_layer()
        shards = loop_layer._shards
        by_shard: dict[int, list[tuple[str, bytes]]] = {}
        for group, message in messages:
            channel = loop_layer._get_group_channel_name(group)
            shard = loop_layer._get_shard(channel)
            by_shard.setdefault(id(shard), []).append((channel, layer.serialize(message)))
        shard_of = {id(shard): shard for shard in shards}
        for shard in shard_of.values():
            shard._lock, shard._ensure_redis  # noqa: B018 -- the internals this path relies on
    except AttributeError:
        return None
    results: list = []
    for key, items in by_shard.items():
        shard = shard_of[key]
        for start in range(0, len(items), _PUBLISH_CHUNK):
            chunk = items[start : start + _PUBLISH_CHUNK]
            try:
                async with shard._lock:
                    shard._ensure_redis()
                    script = shard._redis.register_script(_PUBLISH_ALL)
                    await script(keys=[], args=[part for item in chunk for part in item])
                results += [True] * len(chunk)
            except Exception as error:
                results += [error] * len(chunk)
    return results
