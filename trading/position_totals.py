"""Trading's provider for ``portfolio.positions``: open positions' totals per ledger account.

Registered from ``TradingConfig.ready`` so portfolio (summary, leaderboard, snapshots, events)
values positions without importing trading. One aggregate query per call; unrealized PnL is
computed in SQL, each position at its own market's index price, and floored per position at
``-margin``.

``prices`` maps INDEX symbols (``SOL-USD``) to valuation prices, and may map a perp market
(``SOL-PERP``) to its mark, which then values that market's positions instead of its index
(PnL at mark). An account with a position whose index is not in ``prices`` counts its margin
only: ``unrealized_pnl`` and ``notional`` are ``None`` for that account (``prices={}``: margin
and count only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Sum, Value, When
from django.db.models.functions import Greatest

from portfolio.positions import PositionTotals
from trading.models import Position, PositionSide, PositionStatus
from trading.perp_markets import perp_markets_by_index

_DEC = DecimalField(max_digits=38, decimal_places=9)


def _marks(prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``{market symbol: price}`` for the perp markets whose index is priced: their own mark when
    ``prices`` has it, else the index."""
    return {
        symbol: prices.get(symbol, prices[index])
        for index, symbols in perp_markets_by_index().items()
        if index in prices
        for symbol in symbols
    }


def position_totals(*, account_ids: list[int] | None, prices: dict[str, Decimal]) -> dict[int, PositionTotals]:
    """One aggregate query, grouped by account and market, folded per account here (``symbols``:
    the markets of the account's open positions)."""
    qs = Position.objects.filter(status=PositionStatus.OPEN)
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    aggregates: dict[str, Any] = {"n": Count("id"), "margin_sum": Sum("margin")}
    marks = _marks(prices) if prices else {}
    if marks:
        mark = Case(
            *[When(symbol=symbol, then=Value(price, output_field=_DEC)) for symbol, price in marks.items()],
            default=Value(None, output_field=_DEC),
            output_field=_DEC,
        )
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
        priced = all(row["symbol"] in marks for row in markets)
        out[account_id] = PositionTotals(
            open_count=sum(row["n"] for row in markets),
            margin=sum((row["margin_sum"] or Decimal(0) for row in markets), Decimal(0)),
            notional=sum((row["notional_sum"] for row in markets), Decimal(0)) if priced else None,
            unrealized_pnl=sum((row["upnl"] for row in markets), Decimal(0)) if priced else None,
            symbols=tuple(sorted(row["symbol"] for row in markets)),
        )
    return out
