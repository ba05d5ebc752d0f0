"""The funding events' data: ``funding_payment`` (one per payment) and the ``portfolio_update`` a
payment leaves. On PostgreSQL the settlement's statement writes the same JSON text itself
(``trading.funding_pg``: no per-row Python); the ORM twin builds it here. Both texts are pinned
to these dicts, key for key (tests/trading/test_funding_due.py, test_funding_statements.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.money import dec9, dec_str
from core.timefmt import iso_utc


def funding_head(*, symbol: str, funding_time: datetime, mark: Decimal, rate: Decimal) -> str:
    """The keys every payment of one run shares, as JSON text (symbol, time, rate, mark)."""
    return f'"symbol":"{symbol}","funding_time":"{iso_utc(funding_time)}","rate":"{rate:f}","mark":"{dec9(mark)}"'


def funding_payment_data(
    *, position_id: str, symbol: str, funding_time: datetime, mark: Decimal, rate: Decimal, side: str, qty: Decimal,
    amount: Decimal, insurance: Decimal, margin: Decimal, liquidation_price: Decimal, funding_accrued: Decimal,
) -> dict[str, Any]:  # fmt: skip
    """The payment (``amount`` signed, negative = paid; ``insurance`` the part insurance paid the
    house) and the position after it."""
    return {
        "position_id": position_id, "symbol": symbol, "funding_time": iso_utc(funding_time), "rate": f"{rate:f}",
        "mark": dec9(mark), "side": side, "qty": dec9(qty), "amount": dec9(amount), "insurance": dec9(insurance),
        "margin": dec9(margin), "liquidation_price": dec9(liquidation_price), "funding_accrued": dec9(funding_accrued),
    }  # fmt: skip


def funding_portfolio_data(
    *, epoch: int, total: Decimal, locked: Decimal, open_count: int, margin_used: Decimal
) -> dict[str, Any]:
    """``portfolio_update`` after a payment: the USD balance (the only one funding moves), no spot
    book (none changed: as the fill batches send only the book they changed) and the open
    positions' count and margin."""
    usd = {"free": dec_str(total - locked), "locked": dec_str(locked), "total": dec_str(total)}
    return {
        "epoch": epoch, "balances": {"USD": usd}, "holdings": {},
        "positions": {"open_count": open_count, "margin_used": dec_str(margin_used)},
    }  # fmt: skip
