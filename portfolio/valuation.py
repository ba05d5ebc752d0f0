"""What an account is worth, Django-free: the one equity formula and the return on it.

    equity = USD total (margin included) + Σ each token held × its index + open positions' unrealized PnL
    return = (equity - starting equity) / starting equity

Equity is rounded once, at the end, to micro-dollars with banker's rounding (``core.money.usd``);
the return to six decimals (``0.000001``, half-even). The summary, the leaderboard, equity
snapshots, the WebSocket ``portfolio_update`` (the summary) and the starting / final equity of
an epoch all value an account here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from core.money import usd

RETURN_QUANT = Decimal("0.000001")


def equity_value(
    *,
    cash: Decimal,
    holdings: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    unrealized_pnl: Decimal | None = None,
) -> Decimal:
    """``cash`` (the USD total, locked margin included) + each token's quantity in ``holdings`` at
    its price in ``prices`` (a token without a price counts nothing: the callers flag it) + the
    open positions' ``unrealized_pnl`` (``None``: no positions valued), rounded once."""
    tokens = sum((qty * prices[asset] for asset, qty in holdings.items() if qty and asset in prices), Decimal(0))
    return usd(cash + tokens + (unrealized_pnl or 0))


def sol_value(*, qty: Decimal, price: Decimal) -> Decimal:
    """The SOL book's market value at ``price`` (cost basis of a grant, the summary's market value)."""
    return usd(qty * price)


def equity_return(*, equity: Decimal, start: Decimal) -> Decimal | None:
    """``(equity - start) / start`` to six decimals; ``None`` when there was nothing to start from."""
    if not start:
        return None
    return ((equity - start) / start).quantize(RETURN_QUANT)
