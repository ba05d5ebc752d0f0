"""Pure money helpers (no Django): quanta and rounding rules stated once."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import overload

USD_QUANT = Decimal("0.000001")  # micro-dollars, like USDC
SOL_QUANT = Decimal("0.000000001")  # lamports
PRICE_QUANT = Decimal("0.000001")
BPS = Decimal("10000")

QUANT = {"USD": USD_QUANT, "SOL": SOL_QUANT}


def usd_up(value: Decimal) -> Decimal:
    """Amounts the trader pays (cost, fee): rounded up, never in the trader's favour."""
    return value.quantize(USD_QUANT, rounding=ROUND_UP)


def usd_down(value: Decimal) -> Decimal:
    """Amounts the trader receives (proceeds): rounded down."""
    return value.quantize(USD_QUANT, rounding=ROUND_DOWN)


def usd(value: Decimal) -> Decimal:
    """Reported valuations (equity, PnL): banker's rounding."""
    return value.quantize(USD_QUANT, rounding=ROUND_HALF_EVEN)


def shorten_address(address: str) -> str:
    """``7xKX…p9Qz`` for public listings."""
    if len(address) <= 10:
        return address
    return f"{address[:4]}…{address[-4:]}"


@overload
def dec_str(value: Decimal) -> str: ...
@overload
def dec_str(value: None) -> None: ...
@overload
def dec_str(value: Decimal | None) -> str | None: ...
def dec_str(value: Decimal | None) -> str | None:
    """Plain decimal text for JSON (``"0.000000000"``, never ``"0E-9"``)."""
    return None if value is None else format(value, "f")


@overload
def dec9(value: Decimal) -> str: ...
@overload
def dec9(value: None) -> None: ...
@overload
def dec9(value: Decimal | None) -> str | None: ...
def dec9(value: Decimal | None) -> str | None:
    """As stored in a NUMERIC(38, 9) column: ``"2.000000000"``."""
    return None if value is None else format(value.quantize(SOL_QUANT), "f")
