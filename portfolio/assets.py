"""Which assets exist: USD, and every token of the market registry (``pricing.markets``)."""

from __future__ import annotations

from decimal import Decimal

from portfolio.models import Asset
from pricing.markets import registry_get
from pricing.selectors import PriceMark, price_marks_get


def asset_known(asset: str) -> bool:
    return asset == Asset.USD or asset in registry_get().tokens


def asset_marks(assets: set[str] | list[str]) -> dict[str, PriceMark]:
    """Each token's valuation price (its ``<code>-USD`` index: fresh, else the last one, flagged
    ``stale``) in one cache round trip; USD and tokens never priced are left out."""
    wanted = sorted(asset for asset in assets if asset != Asset.USD)
    marks = price_marks_get([f"{asset}-USD" for asset in wanted])
    return {asset: marks[f"{asset}-USD"] for asset in wanted if f"{asset}-USD" in marks}


def position_prices(marks: dict[str, PriceMark]) -> dict[str, Decimal]:
    """What open positions are valued at (``position_totals_get``'s ``prices``): each index
    (``SOL-USD``) and each perp market's mark from the same record (``SOL-PERP``: PnL at mark)."""
    return {**{f"{asset}-USD": mark.price for asset, mark in marks.items()}, **perp_marks_of(marks)}


def perp_marks_of(marks: dict[str, PriceMark]) -> dict[str, Decimal]:
    """``{perp market: its mark}`` from the index records behind ``marks`` (``asset_marks``)."""
    return {perp: value for mark in marks.values() for perp, value in mark.perps}
