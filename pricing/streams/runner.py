"""Running the stream service: in the foreground (``manage.py stream_prices``: SIGTERM/SIGINT stop
it) or on a daemon thread of its own loop (the embedded default's web process, whose
local-memory cache and in-memory channel layer no other process could reach; tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading

from django.conf import settings

logger = logging.getLogger("pricing.streams")


def idle_reason() -> str | None:
    """Why the service must not stream here (an offline price mode, streams off), or ``None``."""
    if not settings.PRICE_STREAMS:
        return "PRICE_STREAMS is off: prices are polled by the ingest (beat) alone"
    if settings.PRICE_MODE != "live":
        return f"price mode {settings.PRICE_MODE} (offline): nothing to stream; the ingest's generator drives prices"
    return None


async def _serve(stop: asyncio.Event, seconds: float | None) -> None:
    from pricing.streams.service import StreamService

    if seconds is not None:
        asyncio.get_running_loop().call_later(seconds, stop.set)
    await StreamService().run(stop)


def serve(*, seconds: float | None = None) -> None:
    """Stream until SIGTERM/SIGINT (or ``seconds``); in an offline mode idle until then instead."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        reason = idle_reason()
        if reason is not None:
            logger.warning("stream service idle: %s", reason)
            if seconds is not None:
                loop.call_later(seconds, stop.set)
            await stop.wait()
            return
        await _serve(stop, seconds)

    asyncio.run(main())


class StreamThread:
    """The service on a daemon thread; ``stop()`` ends it and waits."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="stream-service", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.ready.set()
            await _serve(self.stop_event, None)

        try:
            asyncio.run(main())
        except Exception:
            logger.exception("stream service thread failed")

    def start(self) -> StreamThread:
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self, timeout: float = 30) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout)


def start_in_thread() -> StreamThread | None:
    """Start the service on a thread unless it must idle (the reason is logged)."""
    reason = idle_reason()
    if reason is not None:
        logger.info("stream service not started: %s", reason)
        return None
    return StreamThread().start()
