"""What a socket's ``prices`` subscription names, and the snapshot it gets on subscribing.

Prices are per token index (``SOL-USD``, ``BONK-USD``): a market symbol (``SOL-PERP``) subscribes
to its token's index, so ``SOL-USD`` and ``SOL-PERP`` share one group, ``prices.<INDEX>``.

realtime sits below pricing (pricing publishes through it), so it never imports pricing: the
market registry and the latest-price cache are read through a ``PriceDirectory`` that the wiring
registers (``config/realtime_prices.py``, from ``config.asgi``: every process serving ``/ws/``).
Without one (realtime used alone) only ``SOL-USD`` is known and no snapshot is sent. These are
plain sync reads; the consumer calls them through ``database_sync_to_async``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import DomainError
from realtime.publish import event

SNAPSHOT_KEYS = ("symbol", "price", "sources", "computed_at", "mode", "dispersion")


class SymbolUnknown(DomainError):
    status = 404
    code = "market_not_found"
    message = "No such market."


@dataclass(frozen=True)
class PriceDirectory:
    listed_indexes: Callable[[], list[str]]  # every listed market's index, in market order
    index_for: Callable[[str], str | None]  # a market or index symbol's index; None if unknown
    markets_on: Callable[[list[str]], dict[str, list[str]]]  # index -> listed market symbols on it
    latest_records: Callable[[list[str]], dict[str, dict]]  # fresh records, one round trip


_SOL_ONLY = PriceDirectory(
    listed_indexes=lambda: ["SOL-USD"],
    index_for=lambda symbol: "SOL-USD" if symbol in ("SOL-USD", "SOL-PERP") else None,
    markets_on=lambda indexes: {index: [] for index in indexes},
    latest_records=lambda indexes: {},
)
_directory = _SOL_ONLY


def price_directory_register(directory: PriceDirectory) -> None:
    """From the wiring (``config/realtime_prices.py``); registering again replaces."""
    global _directory
    _directory = directory


def listed_indexes() -> list[str]:
    """The default subscription: every listed market's index, in market order."""
    return _directory.listed_indexes()


def indexes_for(symbols: list[str]) -> list[str]:
    """The index each market or index symbol reads, deduplicated in the order given; the first
    unknown symbol raises ``SymbolUnknown`` (``market_not_found``, ``extra.symbol``)."""
    out: dict[str, None] = {}
    for symbol in symbols:
        index = _directory.index_for(symbol)
        if index is None:
            raise SymbolUnknown(f"Unknown market {symbol!r}.", extra={"symbol": symbol})
        out.setdefault(index)
    return list(out)


def price_snapshot(indexes: list[str]) -> list[dict[str, Any]]:
    """One ``price_update`` per index that has a fresh record (one cache round trip), shaped as the
    live tick's data plus ``"snapshot": true``; an index without a fresh price is left out (its
    first tick follows)."""
    records = _directory.latest_records(indexes)
    markets = _directory.markets_on([index for index in indexes if index in records])
    frames = []
    for index in indexes:
        record = records.get(index)
        if record is None:
            continue
        data: dict[str, Any] = {key: record.get(key) for key in SNAPSHOT_KEYS}
        data["symbol"] = index
        if record.get("bid") is not None:
            data.update(bid=record["bid"], ask=record.get("ask"))
        data.update(markets=markets.get(index, []), snapshot=True)
        perps = record.get("perps") or {}
        if perps:  # the perps' marks, as the live tick's ``marks`` (docs/realtime.md)
            data["marks"] = {
                symbol: {"mark": entry.get("mark"), "index": record.get("price"),
                         "mark_sources": entry.get("mark_sources") or [], "funding_rate": entry.get("funding_rate")}
                for symbol, entry in perps.items()
                if isinstance(entry, dict)
            }  # fmt: skip
        frames.append(event("price_update", data))
    return frames
