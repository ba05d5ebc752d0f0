"""WebSocket fan-out: 1,000 clients on the real stack, price ticks through Redis.

    .venv/bin/python bench/bench_ws.py [--clients 1000] [--ticks 50] [--interval 0.1]

Starts daphne (PostgreSQL + Redis channel layer), connects N WebSocket clients
subscribed to prices, measures the daphne process's memory per idle connection,
then publishes ticks through the channel layer from this process (as the pricing
worker does) and prints tick->client latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import REDIS_URL, RealStack, rss_kib  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def client(
    url: str,
    origin: str,
    ready: asyncio.Event,
    counter: list[int],
    latencies: list[float],
    expected: int,
    done: asyncio.Event,
    connected_all: asyncio.Event,
    total: int,
    warmup: int = 0,
) -> None:
    import websockets

    async with websockets.connect(url, origin=origin, max_queue=None, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channels": ["prices"]}))
        while json.loads(await ws.recv()).get("type") != "subscribed":
            pass
        counter[0] += 1
        if counter[0] == total:
            connected_all.set()
        got = 0
        while got < expected + warmup:
            frame = json.loads(await ws.recv())
            if frame.get("type") != "price_update" or "n" not in frame["data"]:
                continue  # the snapshot on subscribe, or a real tick: not one of the bench's
            if int(frame["data"]["n"]) >= 0:  # negative n = warm-up ticks, not measured
                latencies.append((time.time_ns() - int(frame["data"]["sent_ns"])) / 1e6)
            got += 1
        await done.wait()


async def run(args: argparse.Namespace) -> None:
    if os.environ.get("CHANNEL_LAYER_BACKEND", "pubsub") == "core":
        from channels_redis.core import RedisChannelLayer as Layer
    else:
        from channels_redis.pubsub import RedisPubSubChannelLayer as Layer

    # every client comes from 127.0.0.1: lift the per-IP socket cap (WS_MAX_SOCKETS_PER_IP) for the bench
    extra_env = {"WS_HEARTBEAT_SECONDS": "3600", "WS_MAX_SOCKETS_PER_IP": "0"}
    with RealStack(processes=1, extra_env=extra_env) as stack:
        base = stack.urls[0]
        ws_url = base.replace("http://", "ws://") + "/ws/"
        pid = stack.procs[0].pid
        await asyncio.sleep(1.0)
        rss_before = rss_kib(pid)
        counter, latencies = [0], []
        done, connected_all, ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
        started = time.perf_counter()
        tasks = []
        for i in range(args.clients):
            tasks.append(
                asyncio.ensure_future(
                    client(
                        ws_url,
                        base,
                        ready,
                        counter,
                        latencies,
                        args.ticks,
                        done,
                        connected_all,
                        args.clients,
                        args.warmup,
                    )
                )
            )
            if i % 100 == 99:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(connected_all.wait(), timeout=120)
        connect_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        rss_after = rss_kib(pid)
        layer = Layer(hosts=[REDIS_URL], prefix=stack.prefix)
        for n in range(-args.warmup, args.ticks):
            payload = {
                "type": "price_update",
                "ts": "",
                "data": {"symbol": "SOL-USD", "price": "150.00", "sent_ns": str(time.time_ns()), "n": n},
            }
            await layer.group_send("prices.SOL-USD", {"type": "relay", "event": payload})
            await asyncio.sleep(args.interval)
        deadline = time.monotonic() + 30
        while len(latencies) < args.clients * args.ticks and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await layer.flush()
        expected = args.clients * args.ticks
        print(f"channel layer            {Layer.__module__}.{Layer.__name__}")
        print(f"clients connected        {counter[0]} in {connect_seconds:.1f} s")
        print(f"daphne RSS               {rss_before / 1024:.1f} MiB idle -> {rss_after / 1024:.1f} MiB with clients")
        print(f"memory per idle conn     {(rss_after - rss_before) / max(1, counter[0]):.1f} KiB")
        print(f"ticks published          {args.ticks} every {args.interval * 1000:.0f} ms (+{args.warmup} warm-up)")
        print(f"deliveries               {len(latencies)} / {expected}")
        if latencies:
            print(
                f"tick->client latency     p50 {statistics.median(latencies):.1f} ms   "
                f"p99 {pct(latencies, 99):.1f} ms   max {max(latencies):.1f} ms"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_WS_CLIENTS", 1000)))
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured ticks first (connection set-up)")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
