"""Funding reads: a user's payments (the API), a position's accrued funding is on ``Position``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from pricing.markets import MarketKindMismatch, market_get
from trading.models import FundingPayment

if TYPE_CHECKING:
    from accounts.models import User


def funding_payment_list(*, user: User, symbol: str | None = None) -> QuerySet[FundingPayment]:
    """``user``'s payments; ``symbol``: one perp market's (``MarketNotFound`` when the registry does
    not know it, ``MarketKindMismatch`` for a spot market)."""
    qs = FundingPayment.objects.filter(user=user)
    if symbol is not None:
        if not market_get(symbol).is_perp:
            raise MarketKindMismatch(extra={"symbol": symbol, "expected": "perp"})
        qs = qs.filter(symbol=symbol)
    return qs
