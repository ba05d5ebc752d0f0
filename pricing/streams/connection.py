"""One connection's lifecycle, the same for every venue: connect (timeout), subscribe, wait for
the confirmation (an ack or the first data, within the subscribe timeout), then read frames; no
frame for ``stale`` seconds, a refused subscription, ``max_bad`` malformed frames in a row, a
closed socket or a missed pong end the session. The source is then marked down with the reason
(the service polls it meanwhile) and a new session starts after a backoff delay; the backoff
restarts once a session stayed live ``RESET_AFTER_SECONDS``.

``WsConnection`` speaks WebSocket (``websockets``: its own ping every ``ping`` seconds, a pong
missing as long closes the socket; the venues' pings are answered); ``sse.SseConnection`` reads
Pyth Hermes' event stream over httpx."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import websockets
from websockets.asyncio.client import connect

from pricing.streams.backoff import Backoff
from pricing.streams.frames import Frame, FrameError, StreamProtocol, SubscriptionRefused
from pricing.streams.health import StreamHealth

logger = logging.getLogger("pricing.streams")
RESET_AFTER_SECONDS = 10.0
REPEAT_WARNING_EVERY = 20  # the same failure again: a warning every this many attempts (else debug)
MAX_FRAME_BYTES = 1 << 20


class StreamFailure(Exception):
    """Why a session ended (stale, unconfirmed subscription, too many malformed frames)."""


class Sink(Protocol):
    def stream_live(self, name: str) -> None: ...

    def stream_down(self, name: str, reason: str) -> None: ...

    def stream_frame(self, name: str, frame: Frame, at: float) -> None: ...


@dataclass(frozen=True)
class Timing:
    connect: float
    subscribe: float
    ping: float
    stale: float
    backoff_base: float
    backoff_max: float
    max_bad: int


def describe(exc: BaseException) -> str:
    if isinstance(exc, SubscriptionRefused):
        return f"subscription refused: {exc}"
    if isinstance(exc, StreamFailure):
        return str(exc)
    if isinstance(exc, websockets.ConnectionClosed):
        return f"connection closed ({exc})"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return f"{type(exc).__name__}: {exc}"[:300]


class Lifecycle:
    """The reconnect loop around ``session`` (subclasses); frames go to ``sink``."""

    def __init__(self, name: str, ids: list[str], *, url: str, sink: Sink, timing: Timing) -> None:
        self.name, self.ids, self.sink, self.timing = name, list(ids), sink, timing
        self.health = StreamHealth(name=name, url=url)
        self.health.set_state("connecting")
        self.backoff = Backoff(base=timing.backoff_base, cap=timing.backoff_max)
        self.task: asyncio.Task | None = None
        self._failures, self._last_reason = 0, ""  # failures in a row with the same reason

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"stream:{self.name}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            self.health.set_state("connecting")
            try:
                await self.session()
                reason = "connection ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure of a session is a reason to reconnect
                reason = describe(exc)
            was_live = self.health.live
            self.health.failed(reason)
            self.sink.stream_down(self.name, reason)
            if was_live and time.monotonic() - started >= RESET_AFTER_SECONDS:
                self.backoff.reset()
            delay = self.backoff.next()
            self._log_down(reason, delay, was_live=was_live)
            await asyncio.sleep(delay)

    def _log_down(self, reason: str, delay: float, *, was_live: bool) -> None:
        """A warning when the stream drops, or fails for a new reason; the same failure again
        (a venue unreachable for an hour: every backoff) at debug level, with a warning every
        ``REPEAT_WARNING_EVERY`` attempts. The health record has every failure."""
        self._failures = 1 if was_live or reason != self._last_reason else self._failures + 1
        self._last_reason = reason
        if self._failures == 1:
            logger.warning("stream %s down (%s); reconnecting in %.2fs", self.name, reason, delay)
        elif self._failures % REPEAT_WARNING_EVERY == 0:
            logger.warning("stream %s still down after %d attempts (%s); reconnecting in %.2fs",
                           self.name, self._failures, reason, delay)  # fmt: skip
        else:
            logger.debug("stream %s down (%s); reconnecting in %.2fs", self.name, reason, delay)

    async def session(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def consume(self, frames: AsyncIterator[str | bytes], parse) -> None:  # noqa: ANN001
        """Read frames until the session fails: the first must confirm within the subscribe
        timeout, then any frame within ``stale`` seconds."""
        self.health.set_state("subscribing")
        bad = 0
        while True:
            wait = self.timing.stale if self.health.live else self.timing.subscribe
            try:
                raw = await asyncio.wait_for(anext(frames), wait)
            except TimeoutError:
                if self.health.live:
                    raise StreamFailure(f"stale: no message for {wait:g}s") from None
                raise StreamFailure(f"subscription not confirmed within {wait:g}s") from None
            except StopAsyncIteration:
                raise StreamFailure("the server ended the stream") from None
            received = datetime.now(timezone.utc)
            try:
                frame: Frame = parse(raw, received_at=received)
            except FrameError as exc:
                bad += 1
                self.health.bad_frame(str(exc))
                if bad >= self.timing.max_bad:
                    raise StreamFailure(f"{bad} malformed frames in a row (last: {exc})"[:300]) from None
                continue
            bad = 0
            self.health.message()
            if frame.acked and not self.health.live:
                self.health.set_state("live")
                self.sink.stream_live(self.name)
            if frame.updates or frame.stable_rates or frame.marks:
                self.sink.stream_frame(self.name, frame, time.monotonic())


class WsConnection(Lifecycle):
    def __init__(self, protocol: StreamProtocol, ids: list[str], *, sink: Sink, timing: Timing) -> None:
        super().__init__(protocol.name, ids, url=protocol.url, sink=sink, timing=timing)
        self.protocol = protocol

    async def session(self) -> None:
        async with connect(
            self.protocol.url, open_timeout=self.timing.connect, ping_interval=self.timing.ping,
            ping_timeout=self.timing.ping, close_timeout=1, max_size=MAX_FRAME_BYTES,
            user_agent_header="solpaper-streams/1.0",
        ) as ws:  # fmt: skip
            for frame in self.protocol.subscribe_frames(self.ids):
                await ws.send(frame)
            await self.consume(aiter(ws), self.protocol.parse)
