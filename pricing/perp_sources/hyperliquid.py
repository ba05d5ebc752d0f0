"""Hyperliquid: ``POST /info`` with ``{"type": "metaAndAssetCtxs"}`` answers a pair
``[{"universe": [{"name": "BTC", ...}, ...]}, [{"markPx", "oraclePx", "funding", ...}, ...]]``:
the asset contexts in the universe's order (so the coin's name is its context's position).
Numbers are strings; ``funding`` is the current rate per hour (Hyperliquid pays funding hourly);
``oraclePx`` is its index. Its perps settle in USDC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricing.perp_sources.base import PerpObservation, PerpRequest, PerpSource, optional_rate, positive
from pricing.sources.base import SourceError


class HyperliquidAssetCtxs(PerpSource):
    name = "hyperliquid"
    quote = "USDC"
    interval_hours = 1
    default_url = "https://api.hyperliquid.xyz"

    def request(self, ids: Sequence[str]) -> PerpRequest:
        return PerpRequest("POST", "/info", json_body={"type": "metaAndAssetCtxs"})

    def entries(self, payload: Any) -> Mapping[str, Any]:
        if not (isinstance(payload, list) and len(payload) == 2):
            raise SourceError("Hyperliquid response is not a [meta, assetCtxs] pair")
        meta, contexts = payload
        universe = meta.get("universe") if isinstance(meta, dict) else None
        if not isinstance(universe, list) or not isinstance(contexts, list):
            raise SourceError("Hyperliquid response has no universe or no asset contexts")
        if len(universe) != len(contexts):
            raise SourceError(f"Hyperliquid lists {len(universe)} coins but {len(contexts)} asset contexts")
        return {
            coin["name"]: ctx
            for coin, ctx in zip(universe, contexts, strict=True)
            if isinstance(coin, dict) and isinstance(coin.get("name"), str) and not coin.get("isDelisted")
        }

    def observation(self, instrument: str, entry: Any, received_at: datetime) -> PerpObservation:
        if not isinstance(entry, dict):
            raise SourceError(f"{instrument}: asset context is not an object")
        oracle = entry.get("oraclePx")
        return PerpObservation(
            source=self.name, instrument=instrument, mark=positive(entry.get("markPx"), "markPx"),
            index=positive(oracle, "oraclePx") if oracle is not None else None,
            funding_rate=optional_rate(entry.get("funding"), "funding"), interval_hours=self.interval_hours,
            quote=self.quote, received_at=received_at,
        )  # fmt: skip
