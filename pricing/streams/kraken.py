"""Kraken's WebSocket v2 (``wss://ws.kraken.com/v2``): ``{"method": "subscribe", "params":
{"channel": "ticker", "symbol": ["SOL/USD"], "event_trigger": "bbo"}}``, answered per symbol
``{"method": "subscribe", "success": true, "result": {...}}`` (``"success": false`` with
``error``: refused). ``ticker`` frames (``type`` snapshot or update) carry ``data``: a list of
``{symbol, bid, ask, last, ...}`` with JSON numbers (read as Decimal, never float): the mid, in
USD. ``heartbeat`` (every second) and ``status`` frames are ignored but keep it fresh.

The registry lists REST pair names (``SOLUSD``, ``XBTUSD``); v2 speaks ``SOL/USD``, ``BTC/USD``."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from pricing.sources.base import Observation, mid_or_last, short, to_decimal
from pricing.sources.kraken import FIAT, altname
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

V2_BASES = {"XBT": "BTC", "XDG": "DOGE"}


def ws_symbol(pair: str) -> str:
    """A REST pair (``SOLUSD``, ``XXBTZUSD``) as v2's ``BASE/QUOTE``."""
    name = altname(pair)
    for fiat in (*FIAT, "USDT", "USDC"):
        if name.endswith(fiat) and len(name) > len(fiat):
            base = name[: -len(fiat)]
            return f"{V2_BASES.get(base, base)}/{fiat}"
    return name


class KrakenStream(StreamProtocol):
    name = "kraken"
    quote = "USD"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.pairs: dict[str, str] = {}  # v2 symbol -> the registry's pair

    def subscribe_frames(self, ids: list[str]) -> list[str]:
        self.pairs = {ws_symbol(pair): pair for pair in ids}
        params = {"channel": "ticker", "symbol": list(self.pairs), "event_trigger": "bbo"}
        return [dumps({"method": "subscribe", "params": params})]

    def _observation(self, entry: dict[str, Any], received_at: datetime) -> Observation:
        bid, ask, last = (to_decimal(entry[key], key) for key in ("bid", "ask", "last"))
        return Observation(
            source=self.name, price=mid_or_last(bid, ask, last), quote=self.quote, bid=bid, ask=ask,
            received_at=received_at,
        )  # fmt: skip

    def parse(self, raw: str | bytes, *, received_at: datetime) -> Frame:
        payload = load_frame(raw)
        if not isinstance(payload, dict):
            raise FrameError(f"Kraken frame is not an object: {short(payload)}")
        if payload.get("method") == "subscribe":
            if payload.get("success") is not True:
                raise SubscriptionRefused(f"Kraken: {short(payload.get('error'), 200)}")
            return Frame(acked=True)
        if payload.get("channel") != "ticker":
            return IGNORED  # heartbeat, status, pong
        data = payload.get("data")
        if not isinstance(data, list):
            raise FrameError(f"Kraken ticker without a data list: {short(payload, 80)}")
        updates: dict[str, Observation] = {}
        for entry in data:
            symbol = entry.get("symbol") if isinstance(entry, dict) else None
            if not isinstance(symbol, str):
                raise FrameError(f"Kraken ticker entry without a symbol: {short(entry)}")
            pair = self.pairs.get(symbol, symbol)
            updates[pair] = guarded(partial(self._observation, entry, received_at), f"Kraken {symbol}")
        return Frame(updates=updates, acked=True)
