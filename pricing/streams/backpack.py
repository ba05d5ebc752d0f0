"""Backpack Exchange's WebSocket (``wss://ws.backpack.exchange``): ``{"method": "SUBSCRIBE",
"params": ["bookTicker.SOL_USDC", ..., "markPrice.SOL_USDC_PERP", ...]}``; no acknowledgement, the
first data confirms. Frames are ``{"stream": "bookTicker.SOL_USDC", "data": {"s", "b", "a", "E" (µs,
a number or a string) ...}}`` (the mid of ``b``/``a``, in USDC) or ``ticker.<SYMBOL>`` (``c``, the
last price): the index's observations; and, for a perp id (``*_PERP``), ``markPrice.<SYMBOL>``
(``{"e": "markPrice", "E" (µs), "s", "p" (mark), "f" (the estimated funding rate, per Backpack's
1 h), "i" (index), "n" (next funding, ms), "T"}``): the perp's venue mark, as ``GET
/api/v1/markPrices`` gives it. An error answer (``{"error": {"code", "message"}}``) refuses the
subscription."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pricing.perp_sources.backpack import BackpackMarkPrices, from_ms
from pricing.perp_sources.base import PerpObservation, optional_rate, positive
from pricing.sources.base import Observation, mid_or_last, short, to_decimal
from pricing.streams.frames import (
    IGNORED,
    Frame,
    FrameError,
    StreamProtocol,
    SubscriptionRefused,
    dumps,
    from_micros,
    guarded,
    load_frame,
)


def is_perp_id(symbol: str) -> bool:
    """Backpack's perp markets are ``<BASE>_<QUOTE>_PERP`` (its spot markets ``<BASE>_<QUOTE>``)."""
    return symbol.endswith("_PERP")


class BackpackStream(StreamProtocol):
    name = "backpack"
    quote = "USDC"

    def subscribe_frames(self, ids: list[str]) -> list[str]:
        params = [f"markPrice.{symbol}" if is_perp_id(symbol) else f"bookTicker.{symbol}" for symbol in ids]
        return [dumps({"method": "SUBSCRIBE", "params": params})]

    def _mark(self, data: dict[str, Any], received_at: datetime) -> PerpObservation:
        index = data.get("i")
        return PerpObservation(
            source=self.name, instrument=data["s"], mark=positive(data.get("p"), "p"),
            index=positive(index, "i") if index not in (None, "") else None,
            funding_rate=optional_rate(data.get("f"), "f"), interval_hours=BackpackMarkPrices.interval_hours,
            quote=self.quote, next_funding_at=from_ms(data.get("n"), "n"), received_at=received_at,
        )  # fmt: skip

    def _observation(self, kind: str, data: dict[str, Any], received_at: datetime) -> Observation:
        if kind == "bookTicker":
            bid, ask, last = to_decimal(data["b"], "b"), to_decimal(data["a"], "a"), None
        else:
            bid, ask, last = None, None, to_decimal(data["c"], "c")
        return Observation(
            source=self.name, price=mid_or_last(bid, ask, last), quote=self.quote, bid=bid, ask=ask,
            source_time=from_micros(data["E"], "E") if "E" in data else None, received_at=received_at,
        )  # fmt: skip

    def parse(self, raw: str | bytes, *, received_at: datetime) -> Frame:
        payload = load_frame(raw)
        if not isinstance(payload, dict):
            raise FrameError(f"Backpack frame is not an object: {short(payload)}")
        if "error" in payload:
            raise SubscriptionRefused(f"Backpack: {short(payload['error'], 200)}")
        stream, data = payload.get("stream"), payload.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            if "result" in payload or "id" in payload:
                return Frame(acked=True)  # a request's answer without an error
            raise FrameError(f"Backpack frame without stream/data: {short(payload, 80)}")
        kind, _, symbol = stream.partition(".")
        if kind == "markPrice":
            data = {**data, "s": data.get("s") if isinstance(data.get("s"), str) else symbol}
            mark = guarded(lambda: self._mark(data, received_at), f"Backpack {stream}")
            return Frame(marks={mark.instrument: mark}, acked=True)
        if kind not in ("bookTicker", "ticker"):
            return IGNORED
        named = data.get("s")
        symbol = named if isinstance(named, str) else symbol
        observation = guarded(lambda: self._observation(kind, data, received_at), f"Backpack {stream}")
        return Frame(updates={symbol: observation}, acked=True)
