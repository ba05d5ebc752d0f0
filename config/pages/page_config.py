"""The read-only numbers the pages need for their previews (display-only estimates).

Fees, slippage model, lot rules and the leverage parameters come from settings; the leverage
ones fall back to the documented defaults while the positions settings are not defined.
Decimals are strings, as everywhere in the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

# First setting name found wins: the positions work may name them either way.
_FALLBACKS: dict[str, tuple[tuple[str, ...], str]] = {
    "maintenance_margin_rate": (
        ("POSITION_MMR", "POSITION_MAINTENANCE_MARGIN_RATE", "TRADING_MMR"),
        "0.005",
    ),
    "max_leverage": (("POSITION_MAX_LEVERAGE", "TRADING_MAX_LEVERAGE"), "20"),
    "min_notional": (("POSITION_MIN_NOTIONAL",), "1"),
    "max_notional": (("POSITION_MAX_NOTIONAL",), "1000000"),
    "position_fee_bps": (("POSITION_FEE_BPS", "TRADING_FEE_BPS"), "10"),
}


def _setting(names: tuple[str, ...], default: str) -> str:
    for name in names:
        value = getattr(settings, name, None)
        if value is not None:
            return str(value)
    return default


def _dec(name: str, default: str) -> str:
    return str(Decimal(str(getattr(settings, name, default))))


def page_config() -> dict[str, Any]:
    return {
        "symbol": "SOL-USD",
        "perp_symbol": "SOL-PERP",
        "ws_path": "/ws/",
        "stack_mode": settings.STACK_MODE,
        "price_stale_seconds": int(getattr(settings, "PRICE_STALE_SECONDS", 15)),
        "spot": {
            "fee_bps": _dec("TRADING_FEE_BPS", "10"),
            "spread_bps": _dec("TRADING_SPREAD_BPS", "2"),
            "impact_bps": _dec("TRADING_IMPACT_BPS", "10"),
            "impact_ref_notional": _dec("TRADING_IMPACT_REF_NOTIONAL", "100000"),
            "max_slippage_bps": _dec("TRADING_MAX_SLIPPAGE_BPS", "200"),
            "min_qty": _dec("TRADING_MIN_QTY", "0.001"),
            "qty_step": _dec("TRADING_QTY_STEP", "0.001"),
            "min_notional": _dec("TRADING_MIN_NOTIONAL", "1"),
            "max_notional": _dec("TRADING_MAX_NOTIONAL", "1000000"),
        },
        "leverage": {key: _setting(names, default) for key, (names, default) in _FALLBACKS.items()},
    }
