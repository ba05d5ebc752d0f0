"""Binance's WebSocket (``wss://stream.binance.com:9443/ws``): ``{"method": "SUBSCRIBE", "params":
["solusdt@bookTicker", ...], "id": 1}``, answered ``{"result": null, "id": 1}`` (or ``{"error":
{"code", "msg"}, "id": 1}`` / ``{"code", "msg"}``: refused). Each ``<symbol>@bookTicker`` frame is
``{"u", "s": "SOLUSDT", "b", "B", "a", "A"}`` (strings, no timestamp): the mid, in USDT. The
server's pings are answered by the WebSocket library."""

from __future__ import annotations

from datetime import datetime

from pricing.sources.base import Observation, mid_or_last, short, to_decimal
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


class BinanceStream(StreamProtocol):
    name = "binance"
    quote = "USDT"

    def subscribe_frames(self, ids: list[str]) -> list[str]:
        return [dumps({"method": "SUBSCRIBE", "params": [f"{s.lower()}@bookTicker" for s in ids], "id": 1})]

    def parse(self, raw: str | bytes, *, received_at: datetime) -> Frame:
        payload = load_frame(raw)
        if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            payload = payload["data"]  # the combined-stream envelope
        if not isinstance(payload, dict):
            raise FrameError(f"Binance frame is not an object: {short(payload)}")
        if "error" in payload or ("code" in payload and "msg" in payload):
            raise SubscriptionRefused(f"Binance: {short(payload.get('error') or payload, 200)}")
        if "result" in payload and "id" in payload:
            return Frame(acked=True)
        symbol = payload.get("s")
        if not isinstance(symbol, str):
            return IGNORED if payload.get("e") else _malformed(payload)

        def build() -> Observation:
            bid, ask = to_decimal(payload["b"], "b"), to_decimal(payload["a"], "a")
            return Observation(
                source=self.name, price=mid_or_last(bid, ask, None), quote=self.quote, bid=bid, ask=ask,
                received_at=received_at,
            )  # fmt: skip

        return Frame(updates={symbol: guarded(build, f"Binance {symbol}")}, acked=True)


def _malformed(payload: dict) -> Frame:
    raise FrameError(f"Binance frame without a symbol: {short(payload, 80)}")
