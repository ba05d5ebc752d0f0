"""Funding reads: a user's payments (the API; a position's accrued funding is on ``Position``),
and each perp market's last settled funding (the markets API, through ``core.hooks.funding_last``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.db.models import OuterRef, QuerySet, Subquery

from pricing.markets import MarketKindMismatch, market_get
from trading.models import FundingPayment, FundingRun, FundingRunStatus

if TYPE_CHECKING:
    from accounts.models import User


def funding_payment_list(
    *, user: User, symbol: str | None = None, position_id: UUID | None = None, after: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[FundingPayment]:  # fmt: skip
    """``user``'s payments; ``symbol``: one perp market's (``MarketNotFound`` when the registry does
    not know it, ``MarketKindMismatch`` for a spot market); ``position_id``: one position's (none for
    anyone else's); ``after`` / ``until``: funding times after one moment, up to and including
    another (as the orders' and fills' lists filter their times)."""
    qs = FundingPayment.objects.filter(user=user)
    if symbol is not None:
        if not market_get(symbol).is_perp:
            raise MarketKindMismatch(extra={"symbol": symbol, "expected": "perp"})
        qs = qs.filter(symbol=symbol)
    if position_id is not None:
        qs = qs.filter(position_id=position_id)
    if after is not None:
        qs = qs.filter(funding_time__gt=after)
    if until is not None:
        qs = qs.filter(funding_time__lte=until)
    return qs


def funding_last(*, symbols: list[str]) -> dict[str, dict[str, Any]]:
    """The last settled funding time of each of ``symbols`` (perp markets) with its rate and
    whether it was late: one query (a probe of the runs' (symbol, funding time) index per market);
    a market never funded is left out."""
    if not symbols:
        return {}
    settled = FundingRun.objects.filter(status=FundingRunStatus.SETTLED)
    latest = settled.filter(symbol=OuterRef("symbol")).order_by("-funding_time").values("funding_time")[:1]
    rows = settled.filter(symbol__in=symbols, funding_time=Subquery(latest)).values_list(
        "symbol", "rate", "funding_time", "late"
    )
    return {symbol: {"rate": rate, "funding_time": at, "late": late} for symbol, rate, at, late in rows}
