"""Pyth Hermes' SSE stream: ``GET /v2/updates/price/stream?ids[]=<feed>...&parsed=true`` answers
``text/event-stream``; each event's ``data:`` is one JSON object of the ``/latest`` answer's shape
(``{"binary", "parsed": [...]}``), parsed by the REST adapter (``PythHermes``: integer prices
scaled by ``expo``, ``publish_time``, conf and EMA). The USDC/USD and USDT/USD feeds ride along
(the stablecoin rates). Hermes answers an unknown feed id with HTTP 404 before any event: the
subscription is refused."""

from __future__ import annotations

from datetime import datetime

import httpx

from pricing.sources.base import SourceError
from pricing.sources.pyth import USDC_USD_FEED, USDT_USD_FEED, PythHermes, feed_key
from pricing.streams.frames import Frame, FrameError, load_frame

STREAM_PATH = "/v2/updates/price/stream"


class PythStream:
    name = "pyth"
    quote = "USD"

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.adapter = PythHermes(base_url=base_url, api_key=api_key)
        self.url = self.adapter.base_url + STREAM_PATH
        self.ids: list[str] = []

    def request(self, ids: list[str]) -> tuple[str, httpx.QueryParams, dict[str, str]]:
        self.ids = list(ids)
        feeds = dict.fromkeys([*(feed_key(i) for i in ids), USDC_USD_FEED, USDT_USD_FEED])
        params = httpx.QueryParams([*(("ids[]", feed) for feed in feeds), ("parsed", "true")])
        headers = {"Accept": "text/event-stream"}
        if self.adapter.api_key:
            headers["Authorization"] = f"Bearer {self.adapter.api_key}"
        return self.url, params, headers

    def parse(self, raw: str, *, received_at: datetime) -> Frame:
        payload = load_frame(raw)
        try:
            reading = self.adapter.parse_body(payload, received_at=received_at, ids=self.ids)
        except SourceError as exc:
            raise FrameError(f"Pyth event: {exc.message}") from exc
        if not reading.observations and not reading.stable_rates:
            bad = [why for why in reading.errors.values() if "absent" not in why]
            raise FrameError(f"Pyth event held no usable feed{': ' + bad[0] if bad else ''}")
        return Frame(updates=dict(reading.observations), acked=True, stable_rates=dict(reading.stable_rates))
