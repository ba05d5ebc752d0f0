"""Coinbase Exchange's WebSocket feed (``wss://ws-feed.exchange.coinbase.com``): ``{"type":
"subscribe", "product_ids": [...], "channels": ["ticker", "heartbeat"]}``, answered ``{"type":
"subscriptions", ...}`` or ``{"type": "error", "message", "reason"}`` (refused). A ``ticker``
frame (one per match) carries ``product_id``, ``best_bid``, ``best_ask``, ``price`` (strings) and
``time`` (the trade's, ISO-8601 with ``Z``): the mid, in USD. ``heartbeat`` frames (one a second
per product) keep a quiet product's connection from looking stale."""

from __future__ import annotations

from datetime import datetime

from pricing.sources.base import Observation, from_iso, mid_or_last, short, to_decimal
from pricing.streams.frames import (
    IGNORED,
    Frame,
    FrameError,
    StreamProtocol,
    SubscriptionRefused,
    dumps,
    guarded,
    load_frame,
)


class CoinbaseStream(StreamProtocol):
    name = "coinbase"
    quote = "USD"

    def subscribe_frames(self, ids: list[str]) -> list[str]:
        return [dumps({"type": "subscribe", "product_ids": list(ids), "channels": ["ticker", "heartbeat"]})]

    def parse(self, raw: str | bytes, *, received_at: datetime) -> Frame:
        payload = load_frame(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise FrameError(f"Coinbase frame without a type: {short(payload, 80)}")
        kind = payload["type"]
        if kind == "error":
            raise SubscriptionRefused(f"Coinbase: {payload.get('message')}: {payload.get('reason')}"[:300])
        if kind == "subscriptions":
            return Frame(acked=True)
        if kind != "ticker":
            return IGNORED
        product = payload.get("product_id")
        if not isinstance(product, str):
            raise FrameError("Coinbase ticker without product_id")

        def build() -> Observation:
            bid, ask = to_decimal(payload["best_bid"], "best_bid"), to_decimal(payload["best_ask"], "best_ask")
            last = to_decimal(payload["price"], "price")
            raw_time = payload.get("time")
            return Observation(
                source=self.name, price=mid_or_last(bid, ask, last), quote=self.quote, bid=bid, ask=ask,
                source_time=None if raw_time is None else from_iso(raw_time, "time"), received_at=received_at,
            )  # fmt: skip

        return Frame(updates={product: guarded(build, f"Coinbase {product}")}, acked=True)
