"""Publish events to the channel layer. Imports no domain app.

* ``event(type, data, seq=None)`` is the wire shape of every event.
* ``publish`` sends now; ``publish_on_commit`` sends after the surrounding
  transaction commits, so nothing is announced that did not commit. A failing
  channel layer is logged and never propagates into (or rolls back) the caller.
* ``user_event_emit`` is for user streams: inside the caller's transaction it
  takes the user's next ``seq`` and stores the event (for resume), then
  publishes it on commit. Use it for ``order_fill``, ``portfolio_update``
  (after a fill), ``position_liquidated``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from realtime.groups import user_group

logger = logging.getLogger("realtime.publish")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Decimals and UUIDs as strings, datetimes as RFC 3339 UTC: safe for JSON and msgpack."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def event(event_type: str, data: dict[str, Any], *, seq: int | None = None) -> dict[str, Any]:
    """The wire shape of every event: ``{type, seq?, ts, data}``."""
    body: dict[str, Any] = {
        "type": event_type,
        "ts": _iso(datetime.now(timezone.utc)),
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
