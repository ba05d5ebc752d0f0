"""Wiring: the ``/ws/`` price stream reads the market registry and the latest prices through
``realtime.price_symbols.PriceDirectory`` (realtime sits below pricing and never imports it).
Registered from ``config.asgi``, so every process that serves WebSockets has it.
"""

from __future__ import annotations

from pricing.markets import MarketNotFound, index_symbol_for, registry_get
from pricing.selectors import price_latest_records
from realtime.price_symbols import PriceDirectory, price_directory_register


def _index_for(symbol: str) -> str | None:
    try:
        return index_symbol_for(symbol)
    except MarketNotFound:
        return None


def _markets_on(indexes: list[str]) -> dict[str, list[str]]:
    by_index: dict[str, list[str]] = {index: [] for index in indexes}
    for market in registry_get().markets.values():
        if market.listed and market.index_symbol in by_index:
            by_index[market.index_symbol].append(market.symbol)
    return by_index


def register() -> None:
    price_directory_register(
        PriceDirectory(
            listed_indexes=lambda: registry_get().index_symbols(),
            index_for=_index_for,
            markets_on=_markets_on,
            latest_records=price_latest_records,
        )
    )
