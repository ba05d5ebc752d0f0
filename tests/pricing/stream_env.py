"""The streaming test bench: every venue's local stream server, the local REST server of the
fallback polls (``price_server``), fast stream timings, and the service on a thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.pricing.conftest import RECORDED, fresh_route
from tests.pricing.stream_servers import PriceBoard, SseServer, WsVenueServer

WS_URL_SETTINGS = {"backpack": "BACKPACK_WS_URL", "coinbase": "COINBASE_WS_URL", "kraken": "KRAKEN_WS_URL",
                   "binance": "BINANCE_WS_URL"}  # fmt: skip


@dataclass
class StreamBench:
    board: PriceBoard
    ws: dict[str, WsVenueServer]
    sse: SseServer
    rest: object  # tests.pricing.conftest.PriceServer
    servers: dict[str, object] = field(default_factory=dict)

    def server(self, name: str):
        return self.sse if name == "pyth" else self.ws[name]


def fast_stream_settings(settings) -> None:
    settings.PRICE_STREAMS = True
    settings.PRICE_STREAM_SOURCES = ["pyth", "backpack", "coinbase", "kraken", "binance"]
    settings.PRICE_STREAM_CONNECT_TIMEOUT = 2
    settings.PRICE_STREAM_SUBSCRIBE_TIMEOUT = 1
    settings.PRICE_STREAM_PING_SECONDS = 5
    settings.PRICE_STREAM_STALE_SECONDS = 1
    settings.PRICE_STREAM_BACKOFF_BASE = 0.05
    settings.PRICE_STREAM_BACKOFF_MAX = 0.3
    settings.PRICE_STREAM_MAX_BAD_FRAMES = 3
    settings.PRICE_INGEST_INTERVAL_SECONDS = 0.5
    settings.PRICE_MIN_TICK_MS = 250
    settings.PRICE_TICK_HEARTBEAT_MS = 1000


@contextmanager
def stream_bench(settings, price_server, *, rest: bool = True, interval: float = 0.1) -> Iterator[StreamBench]:
    """Start the local servers (every source's REST fallback answering too unless ``rest`` is
    false) and point the settings at them."""
    fast_stream_settings(settings)
    board = PriceBoard()
    ws = {name: WsVenueServer(name, board, interval=interval).start() for name in WS_URL_SETTINGS}
    sse = SseServer(board, interval=interval).start()
    for name, setting in WS_URL_SETTINGS.items():
        setattr(settings, setting, ws[name].url)
    settings.PYTH_HERMES_URL = sse.url
    if rest:
        for source in RECORDED:
            price_server.serve(source, fresh_route(source))
    try:
        yield StreamBench(board=board, ws=ws, sse=sse, rest=price_server)
    finally:
        for server in ws.values():
            server.stop()
        sse.stop()


@contextmanager
def running_service() -> Iterator[object]:
    from pricing.streams.runner import StreamThread

    service = StreamThread().start()
    try:
        yield service
    finally:
        service.stop()
        if service.thread.is_alive():
            import sys
            import traceback

            stack = "".join(traceback.format_stack(sys._current_frames()[service.thread.ident]))
            raise AssertionError(f"the stream service did not stop:\n{stack}")


def wait_for(check: Callable[[], object], *, timeout: float = 10, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
