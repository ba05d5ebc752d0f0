"""Trading's provider for ``portfolio.positions``: open positions' totals per ledger account.

Registered from ``TradingConfig.ready`` so portfolio (summary, leaderboard, snapshots, events)
values positions without importing trading. One aggregate query per call; unrealized PnL is
computed in SQL and floored per position at ``-margin``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Sum, Value, When
from django.db.models.functions import Greatest

from portfolio.positions import PositionTotals
from pricing.markets import registry_get
from trading.models import Position, PositionSide, PositionStatus

_DEC = DecimalField(max_digits=38, decimal_places=9)


def _marks(prices: dict[str, Decimal]) -> Case | None:
    """Each perp market's valuation price (its index's), as one ``CASE symbol`` expression."""
    whens = [
        When(symbol=market.symbol, then=Value(prices[market.index_symbol], output_field=_DEC))
        for market in registry_get().markets.values()
        if market.is_perp and market.index_symbol in prices
    ]
    return Case(*whens, default=Value(None, output_field=_DEC), output_field=_DEC) if whens else None


def position_totals(*, account_ids: list[int] | None, prices: dict[str, Decimal]) -> dict[int, PositionTotals]:
    """One aggregate query, grouped by account and market, folded per account here. An account
    with a position whose index has no price gets ``unrealized_pnl``/``notional`` ``None``."""
    qs = Position.objects.filter(status=PositionStatus.OPEN)
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    aggregates: dict[str, Any] = {"n": Count("id"), "margin_sum": Sum("margin")}
    mark = _marks(prices)
    if mark is not None:
        pnl = Case(
            When(side=PositionSide.LONG, then=ExpressionWrapper(F("qty") * (mark - F("entry_price")), _DEC)),
            default=ExpressionWrapper(F("qty") * (F("entry_price") - mark), _DEC),
            output_field=_DEC,
        )
        aggregates["upnl"] = Sum(Greatest(pnl, ExpressionWrapper(-F("margin"), _DEC), output_field=_DEC))
        aggregates["notional_sum"] = Sum(ExpressionWrapper(F("qty") * mark, _DEC))
    # The aggregates are chosen at run time, so the rows' keys are not known statically.
    rows: Iterable[Mapping[str, Any]] = qs.values("account_id", "symbol").annotate(**aggregates).order_by()
    parts: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        parts[row["account_id"]].append(row)
    out = {}
    for account_id, markets in parts.items():
        upnl = [row.get("upnl") for row in markets]
        notional = [row.get("notional_sum") for row in markets]
        out[account_id] = PositionTotals(
            open_count=sum(row["n"] for row in markets),
            margin=sum((row["margin_sum"] or Decimal(0) for row in markets), Decimal(0)),
            notional=None if None in notional else sum(notional, Decimal(0)),
            unrealized_pnl=None if None in upnl else sum(upnl, Decimal(0)),
            symbols=tuple(sorted(row["symbol"] for row in markets)),
        )
    return out
