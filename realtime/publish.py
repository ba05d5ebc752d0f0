"""Publish events to the channel layer. Imports no domain app.

* ``event(type, data, seq=None)`` is the wire shape of every event.
* ``publish`` sends now; ``publish_on_commit`` sends after the surrounding
  transaction commits, so nothing is announced that did not commit. A failing
  channel layer is logged and never propagates into (or rolls back) the caller.
  In the real stack every send is a direct redis-py call in the calling thread
  (``group_send_now``, ``realtime.pubsub_batch``); only the in-memory layer of
  embedded mode goes through ``async_to_sync``.
* ``user_event_emit`` is for user streams: inside the caller's transaction it
  takes the user's next ``seq`` and stores the event (for resume), then
  publishes it on commit. Use it for ``order_fill``, ``portfolio_update``
  (after a fill), ``position_liquidated``.
* ``user_events_emit_many`` is the same contract for many events of many users
  (the liquidation engine's batches): a fixed number of statements whatever the
  batch size (``realtime.pg``), and one Redis call per shard to publish them all
  after commit (``realtime.pubsub_batch``).
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
from typing import Any, NewType

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from core.timefmt import iso_utc
from realtime.groups import user_group
from realtime.models import UserEvent
from realtime.pg import EventRow, event_statements, seq_next
from realtime.pubsub_batch import pubsub_batch_for

logger = logging.getLogger("realtime.publish")


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
        return iso_utc(value)
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def event(event_type: str, data: dict[str, Any], *, seq: int | None = None, ts: str | None = None) -> dict[str, Any]:
    """The wire shape of every event: ``{type, seq?, ts, data}`` (``ts``: now, or a batch's moment)."""
    body: dict[str, Any] = {
        "type": event_type,
        "ts": ts or iso_utc(datetime.now(timezone.utc)),
        "data": jsonable(data),
    }
    if seq is not None:
        body["seq"] = seq
    return body


def group_send_now(group: str, message: dict[str, Any]) -> None:
    """Send one channel-layer message to ``group`` from sync code, now; raises what failed.

    On channels-redis' pub/sub layer (the real stack) it is one synchronous redis-py call in the
    calling thread (``realtime.pubsub_batch``, the same bytes the layer's ``group_send`` would
    publish): no event loop, no thread hand-off. Any other layer (the in-memory one of embedded
    mode) gets its own ``group_send`` through ``async_to_sync``."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    batch = pubsub_batch_for(layer)
    if batch is None:
        async_to_sync(layer.group_send)(group, message)
        return
    (outcome,) = batch.send([(group, message)])
    if isinstance(outcome, BaseException):
        raise outcome


def publish(group: str, payload: dict[str, Any]) -> bool:
    """Send now; returns False (and logs) if the channel layer failed."""
    if get_channel_layer() is None:
        return False
    try:
        text = json.dumps(payload, separators=(",", ":"))  # serialised once, not per socket
        group_send_now(group, {"type": "relay", "event": payload, "text": text})
        return True
    except Exception:
        logger.warning("channel layer publish to %s failed", group, exc_info=True)
        return False


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, payload))


def user_event_emit(*, user_id: int, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store a user event with the next ``seq`` and publish it after commit.

    Must run inside the transaction that made the change it announces; the
    counter row is locked last (after balances, positions and orders).
    """
    with transaction.atomic():
        seq = seq_next(user_id)
        payload = event(event_type, data, seq=seq)
        UserEvent.objects.create(user_id=user_id, seq=seq, type=event_type, payload=payload)
    publish_on_commit(user_group(user_id), payload)
    return payload


# A JSON object's text, already serialised, to pass as an event's ``data``: it is embedded as it
# is, never built as a dict nor encoded again (the liquidation engine's ``position_liquidated``,
# thousands a tick). Whoever builds one must produce exactly the text
# ``json.dumps(jsonable(data), separators=(",", ":"))`` would (``raw_json``; its tests pin that).
# A plain ``str`` at run time (a ``NewType``): a batch holding thousands of events as
# ``(user_id, type, text)`` tuples holds nothing the cyclic garbage collector keeps tracking.
RawJSON = NewType("RawJSON", str)


def raw_json(data: dict[str, Any]) -> RawJSON:
    """``data`` as the ``RawJSON`` an event embeds: encode now, not when the batch is stored."""
    return RawJSON(json.dumps(jsonable(data), separators=(",", ":")))


def event_text(event_type: str, data: dict[str, Any] | RawJSON, *, seq: int, ts: str) -> str:
    """``event(...)`` serialised compactly, key for key: ``{"type","ts","data","seq"}``."""
    if isinstance(data, str):  # a RawJSON
        return f'{{"type":{json.dumps(event_type)},"ts":"{ts}","data":{data},"seq":{seq}}}'
    return json.dumps(event(event_type, data, seq=seq, ts=ts), separators=(",", ":"))


def user_events_emit_many(events: Sequence[tuple[int, str, dict[str, Any] | RawJSON]]) -> list[str]:
    """``user_event_emit`` for many ``(user_id, event_type, data)``: same contract, set-based.

    Inside the caller's transaction: one upsert bumps each user's counter by its number of
    events (counter rows locked in user-id order, so concurrent batches never deadlock) and
    returns the new ``last_seq``; the seqs ``last_seq - n + 1 .. last_seq`` are handed out in
    the order given; one insert stores every event (the statements: ``realtime.pg``). After
    commit ``publish_many`` sends them all at once (``publish_many_on_commit``). ``data`` is a
    dict or a ``RawJSON``.
    Returns the events' JSON texts (as stored and sent), in the order given.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("user_events_emit_many must run inside transaction.atomic()")
    sql = event_statements()
    counts = Counter(user_id for user_id, _type, _data in events)
    last = sql.counters_bump(counts)
    next_seq = {user_id: last[user_id] - n + 1 for user_id, n in counts.items()}
    rows: list[EventRow] = []
    ts = iso_utc(datetime.now(timezone.utc))  # one moment for the batch (one transaction)
    for user_id, event_type, data in events:
        seq = next_seq[user_id]
        next_seq[user_id] = seq + 1
        rows.append((user_id, seq, event_type, event_text(event_type, data, seq=seq, ts=ts)))
    sql.events_store(rows, datetime.now(timezone.utc))
    publish_many_on_commit([(user_group(user_id), text) for user_id, _seq, _type, text in rows])
    return [text for _user_id, _seq, _type, text in rows]


def publish_many_on_commit(outgoing: list[tuple[str, str]]) -> None:
    """After commit, send ``(group, text)`` items in one ``publish_many``."""
    if outgoing:
        transaction.on_commit(lambda: publish_many(outgoing))


def publish_many(outgoing: list[tuple[str, str]]) -> int:
    """Send many events at once; returns how many failed. Never raises.

    ``text`` is the event already serialised (the stored JSON), so nothing is encoded twice; the
    consumers relay it as it is. With channels-redis' pub/sub layer every ``PUBLISH`` of a shard
    goes in one Redis call (``realtime.pubsub_batch``); any other layer (the in-memory one of
    embedded mode) gets its own ``group_send``s, in one event-loop run.
    """
    try:
        layer = get_channel_layer()
        if layer is None or not outgoing:
            return 0
        batch = pubsub_batch_for(layer)
        if batch is not None:  # each message built, serialised and let go, one at a time
            results = batch.send((group, {"type": "relay", "text": text}) for group, text in outgoing)
        else:

            async def send_all() -> list:
                sends = [layer.group_send(group, {"type": "relay", "text": text}) for group, text in outgoing]
                return await asyncio.gather(*sends, return_exceptions=True)

            results = async_to_sync(send_all)()
        failures = sum(1 for result in results if isinstance(result, BaseException))
    except Exception:
        logger.warning("channel layer publish of %d events failed", len(outgoing), exc_info=True)
        return len(outgoing)
    if failures:
        logger.warning("%d of %d channel layer publishes failed", failures, len(outgoing))
    return failures
