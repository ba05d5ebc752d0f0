"""Pyth Hermes' server-sent events over httpx (a streamed GET): the lifecycle of
``connection.Lifecycle``; an answer other than 200 refuses the subscription (Hermes: 404 for an
unknown feed id); a silent stream ends as stale, as a WebSocket does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from pricing.sources.base import snippet
from pricing.streams.connection import Lifecycle, Sink, Timing
from pricing.streams.frames import SubscriptionRefused
from pricing.streams.pyth import PythStream


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Each event's data (its ``data:`` lines joined by newlines); comments and other fields are
    skipped (a comment line still counts as traffic for the caller's staleness: not yielded)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class SseConnection(Lifecycle):
    def __init__(self, stream: PythStream, ids: list[str], *, sink: Sink, timing: Timing) -> None:
        super().__init__(stream.name, ids, url=stream.url, sink=sink, timing=timing)
        self.stream = stream

    async def session(self) -> None:
        url, params, headers = self.stream.request(self.ids)
        timeout = httpx.Timeout(
            connect=self.timing.connect, read=self.timing.stale + 1, write=self.timing.connect, pool=self.timing.connect
        )  # the read timeout is a backstop: the stale detector fires first, with its reason
        async with httpx.AsyncClient(timeout=timeout, headers={"User-Agent": "solpaper-streams/1.0"}) as client:
            async with client.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    raise SubscriptionRefused(f"HTTP {response.status_code}: {snippet(body)}")
                await self.consume(sse_events(response.aiter_lines()), self.stream.parse)
