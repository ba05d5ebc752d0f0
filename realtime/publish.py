"""Publish events to the channel layer. Imports no domain app.

``publish_on_commit`` queues the send with ``transaction.on_commit`` so nothing
is announced that did not commit; a failing channel layer is logged and never
propagates into (or rolls back) the caller.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("realtime.publish")


def event(event_type: str, data: dict[str, Any], *, seq: int | None = None) -> dict[str, Any]:
    """The wire shape of every event: ``{type, seq?, ts, data}``."""
    body: dict[str, Any] = {
        "type": event_type,
        "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "data": data,
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
        async_to_sync(layer.group_send)(group, {"type": "relay", "event": payload})
        return True
    except Exception:
        logger.warning("channel layer publish to %s failed", group, exc_info=True)
        return False


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, payload))
