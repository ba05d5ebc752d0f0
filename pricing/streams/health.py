"""Per-stream health, kept by the service in memory and written to the cache (Redis in the real
stack) once a second and at every state change: ``pricing:stream:health:<source>`` holds
``{state, since, url, last_message_at, messages, bad_frames, last_bad_frame, reconnects,
last_error, last_error_at, polling}``; ``GET /api/v1/market/sources`` shows it as each source's ``stream``.

``pricing:stream:heartbeat`` (TTL ``HEARTBEAT_TTL_SECONDS``) says a stream service is running:
while it is fresh the beat ingest steps aside (one writer of the index); when the service stops
or hangs it expires and polling by beat goes on as before."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from django.core.cache import cache

from core.timefmt import iso_utc

HEALTH_KEY = "pricing:stream:health:{name}"
HEARTBEAT_KEY = "pricing:stream:heartbeat"
HEARTBEAT_TTL_SECONDS = 3
HEALTH_TTL_SECONDS = 60


def _now() -> str:
    return iso_utc(datetime.now(timezone.utc), timespec="milliseconds")


@dataclass
class StreamHealth:
    """One connection's state: connecting -> subscribing -> live; down (with the reason) between."""

    name: str
    url: str
    state: str = "connecting"
    since: str = ""
    last_message_at: str | None = None
    messages: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    last_error: str = ""  # the reason of the last failure (a session that ended)
    last_error_at: str | None = None
    last_bad_frame: str = ""  # the last malformed frame's reason (counted and skipped)
    polling: bool = True  # the service polls this source meanwhile (its stream is not live)

    def set_state(self, state: str) -> None:
        self.state, self.since = state, _now()
        self.polling = state != "live"

    def message(self) -> None:
        self.messages += 1
        self.last_message_at = _now()

    def bad_frame(self, reason: str) -> None:
        self.bad_frames += 1
        self.last_bad_frame = reason[:300]

    def failed(self, reason: str) -> None:
        self.reconnects += 1
        self.last_error, self.last_error_at = reason[:300], _now()
        self.set_state("down")

    @property
    def live(self) -> bool:
        return self.state == "live"

    def record(self) -> dict:
        return asdict(self)


def stream_health_write(healths: list[StreamHealth]) -> None:
    cache.set_many({HEALTH_KEY.format(name=h.name): h.record() for h in healths}, timeout=HEALTH_TTL_SECONDS)


def stream_heartbeat_write(healths: list[StreamHealth]) -> None:
    beat = {"pid": os.getpid(), "at": _now(), "streams": {h.name: h.state for h in healths}}
    cache.set(HEARTBEAT_KEY, beat, timeout=HEARTBEAT_TTL_SECONDS)


def stream_heartbeat_clear() -> None:
    cache.delete(HEARTBEAT_KEY)


def stream_service_active() -> bool:
    """A stream service wrote its heartbeat within ``HEARTBEAT_TTL_SECONDS``."""
    return cache.get(HEARTBEAT_KEY) is not None


def stream_health_get(names: list[str]) -> dict[str, dict]:
    """The last written health of each named stream (absent: no service streams it)."""
    found = cache.get_many([HEALTH_KEY.format(name=name) for name in names])
    return {name: found[key] for name in names if (key := HEALTH_KEY.format(name=name)) in found}
