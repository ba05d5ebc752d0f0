"""Streaming CPU: the stream service (``manage.py stream_prices``, its own process) fed by local
WebSocket servers for Backpack, Coinbase, Kraken and Binance and a local SSE server for Pyth, each
pushing every listed instrument BENCH_STREAM_RATE times a second in the recorded frames' formats
(tests/pricing/stream_servers.py), Jupiter polled from a local REST server; the seeded registry
(12 markets on 7 token indexes). Two phases: prices moving every round (ticks bounded by the gate,
``PRICE_MIN_TICK_MS``), then unchanged (heartbeat ticks only). Prints, per phase, the service's
CPU seconds per wall second, the ticks accepted per second and the frames sent per second, with
the load average.

Run: ``.venv/bin/python bench/bench_streams.py`` (PostgreSQL on 127.0.0.1:5432 and Redis; a
scratch database is created and dropped). Knobs: BENCH_STREAM_SECONDS (per phase, default 20),
BENCH_STREAM_RATE (frames per second per instrument per source, default 5), PRICE_MIN_TICK_MS.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import cpu_seconds, scratch_database  # noqa: E402

SECONDS = float(os.environ.get("BENCH_STREAM_SECONDS", "20"))
RATE = float(os.environ.get("BENCH_STREAM_RATE", "5"))
WARMUP = 6.0


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _seqs(indexes: list[str]) -> int:
    from django.core.cache import cache

    return sum(int(cache.get(f"pricing:seq:{index}") or 0) for index in indexes)


def _walk(board, moving: threading.Event, stop: threading.Event) -> None:
    rng = random.Random(7)
    while not stop.wait(1 / RATE):
        if moving.is_set():
            board.sol = (board.sol * (1 + Decimal(rng.randint(-5, 5)) / 10000)).quantize(Decimal("0.0001"))


def _phase(name: str, pid: int, servers, indexes: list[str]) -> None:
    sent0 = sum(s.sent for s in servers)
    cpu0, ticks0, wall0 = cpu_seconds([pid]), _seqs(indexes), time.monotonic()
    time.sleep(SECONDS)
    wall = time.monotonic() - wall0
    cpu, ticks = cpu_seconds([pid]) - cpu0, _seqs(indexes) - ticks0
    frames = sum(s.sent for s in servers) - sent0
    print(
        f"{name}: service CPU {cpu / wall:.3f} s per wall second ({cpu / wall * 100:.1f}% of one core), "
        f"{ticks / wall:.1f} ticks accepted/s over {len(indexes)} indexes, {frames / wall:.0f} frames/s in "
        f"(load average {_load()})",
        flush=True,
    )


def _run() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from pricing.markets import registry_get
    from tests.pricing.conftest import RECORDED, PriceServer, fresh_route
    from tests.pricing.stream_servers import PriceBoard, SseServer, WsVenueServer

    registry = registry_get()
    indexes = registry.index_symbols()
    board = PriceBoard()
    ws = {name: WsVenueServer(name, board, interval=1 / RATE).start() for name in ("backpack", "coinbase", "kraken",
                                                                                     "binance")}  # fmt: skip
    sse = SseServer(board, interval=1 / RATE).start()
    rest = PriceServer()
    rest.thread.start()
    for source in RECORDED:
        rest.serve(source, fresh_route(source))
    env = {
        **os.environ, "BACKPACK_WS_URL": ws["backpack"].url, "COINBASE_WS_URL": ws["coinbase"].url,
        "KRAKEN_WS_URL": ws["kraken"].url, "BINANCE_WS_URL": ws["binance"].url, "PYTH_HERMES_URL": sse.url,
        "JUPITER_PRICE_URL": rest.url, "BACKPACK_API_URL": rest.url, "COINBASE_API_URL": rest.url,
        "KRAKEN_API_URL": rest.url, "BINANCE_API_URL": rest.url, "PRICE_MODE": "live", "PRICE_STREAMS": "1",
    }  # fmt: skip
    moving, stop = threading.Event(), threading.Event()
    moving.set()
    walker = threading.Thread(target=_walk, args=(board, moving, stop), daemon=True)
    walker.start()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "stream_prices", "--seconds", str(WARMUP + 2 * SECONDS + 5)], cwd=ROOT, env=env
    )
    servers = [*ws.values(), sse]
    try:
        print(
            f"stream service pid {proc.pid}: {len(registry.markets)} markets on {len(indexes)} indexes, 5 streamed "
            f"sources at {RATE:g} frames/s per instrument, Jupiter polled every "
            f"{settings.PRICE_INGEST_INTERVAL_SECONDS}s; PRICE_MIN_TICK_MS={settings.PRICE_MIN_TICK_MS}",
            flush=True,
        )
        time.sleep(WARMUP)
        _phase("moving prices", proc.pid, servers, indexes)
        moving.clear()
        _phase("unchanged prices (heartbeats)", proc.pid, servers, indexes)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(20)
        for server in ws.values():
            server.stop()
        sse.stop()
        rest.httpd.shutdown()


def main() -> None:
    with scratch_database("solpaper_bench_streams"):
        _run()


if __name__ == "__main__":
    main()
