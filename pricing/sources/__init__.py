"""Price-source adapters behind one interface (``pricing.sources.base.PriceSource``)."""

from __future__ import annotations

from pricing.sources.backpack import BackpackTicker
from pricing.sources.base import Observation, PriceSource, Reading, SourceError, SourceRateLimited
from pricing.sources.binance import BinanceBookTicker
from pricing.sources.coinbase import CoinbaseTicker
from pricing.sources.jupiter import JupiterPrice
from pricing.sources.kraken import KrakenTicker
from pricing.sources.pyth import PythHermes

SOURCE_CLASSES: dict[str, type[PriceSource]] = {
    cls.name: cls for cls in (PythHermes, JupiterPrice, BackpackTicker, CoinbaseTicker, KrakenTicker, BinanceBookTicker)
}

__all__ = [
    "SOURCE_CLASSES",
    "Observation",
    "PriceSource",
    "Reading",
    "SourceError",
    "SourceRateLimited",
]
