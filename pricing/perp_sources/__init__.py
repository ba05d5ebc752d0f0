"""The venues' perp market data (mark price, their index, current funding rate) behind one
interface, Django-free and network-free like ``pricing.sources``: an adapter builds one request
for every instrument it lists and parses the answer into one ``PerpObservation`` per instrument
it priced, a reason for each it did not (``PerpReading``), or raises ``SourceError`` when the
whole answer is unusable. ``pricing.services.venue_perps`` does the I/O and stores the result.
"""

from __future__ import annotations

from pricing.perp_sources.backpack import BackpackMarkPrices
from pricing.perp_sources.base import PerpObservation, PerpReading, PerpRequest, PerpSource
from pricing.perp_sources.binance import BinancePremiumIndex
from pricing.perp_sources.hyperliquid import HyperliquidAssetCtxs

PERP_SOURCE_CLASSES: dict[str, type[PerpSource]] = {
    cls.name: cls for cls in (BackpackMarkPrices, BinancePremiumIndex, HyperliquidAssetCtxs)
}

__all__ = ["PERP_SOURCE_CLASSES", "PerpObservation", "PerpReading", "PerpRequest", "PerpSource"]
