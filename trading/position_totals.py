"""Trading's provider for ``portfolio.positions``: open positions' totals per ledger account.

Registered from ``TradingConfig.ready`` so portfolio (summary, leaderboard, snapshots, events)
values positions without importing trading. One aggregate query per call; unrealized PnL is
computed in SQL and floored per position at ``-margin``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Sum, Value, When
from django.db.models.functions import Greatest

from portfolio.positions import PositionTotals
from trading.models import Position, PositionSide, PositionStatus

_DEC = DecimalField(max_digits=38, decimal_places=9)


def position_totals(*, account_ids: list[int] | None, price: Decimal | None) -> dict[int, PositionTotals]:
    qs = Position.objects.filter(status=PositionStatus.OPEN)
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    aggregates = {"n": Count("id"), "margin_sum": Sum("margin")}
    if price is not None:
        mark = Value(price, output_field=_DEC)
        pnl = Case(
            When(side=PositionSide.LONG, then=ExpressionWrapper(F("qty") * (mark - F("entry_price")), _DEC)),
            default=ExpressionWrapper(F("qty") * (F("entry_price") - mark), _DEC),
            output_field=_DEC,
        )
        aggregates["upnl"] = Sum(Greatest(pnl, ExpressionWrapper(-F("margin"), _DEC), output_field=_DEC))
        aggregates["notional_sum"] = Sum(ExpressionWrapper(F("qty") * mark, _DEC))
    out = {}
    # The aggregates are chosen at run time, so the rows' keys are not known statically.
    rows: Iterable[Mapping[str, Any]] = qs.values("account_id").annotate(**aggregates).order_by()
    for row in rows:
        out[row["account_id"]] = PositionTotals(
            open_count=row["n"],
            margin=row["margin_sum"] or Decimal(0),
            notional=row.get("notional_sum"),
            unrealized_pnl=row.get("upnl"),
        )
    return out
