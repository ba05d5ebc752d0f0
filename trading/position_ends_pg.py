"""The probes of the positions' partial indexes' ends, one statement each, so a tick that crosses
no position costs the TP/SL and liquidation engines one short statement each and nothing else
(the limit entries probe the resting-limit index: ``trading.trigger_pg``'s ``limit_ends``).

The statement texts never change (the markets travel as one array parameter), so no queryset is
built and compiled per tick; each WHERE is its index's predicate word for word, so PostgreSQL
reads one entry at one end of each (market, side) range of ``position_open_sym_side_liq`` /
``_tp`` / ``_sl`` (``trading.position_models``). The ends ignore the engines' "changed at or
before the tick" rule: they only say when the candidates' query cannot find anything. The ORM
twins answer the same for SQLite (embedded mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import Max, Min, Q

from trading.position_models import Position, PositionSide, PositionStatus

_POSITIONS = Position._meta.db_table


def _end(column: str, side: str, direction: str, *, nullable: bool) -> str:
    """One (market, side) range's end of ``column`` over the open positions (the partial index)."""
    has_price = f" AND p.{column} IS NOT NULL" if nullable else ""
    return (
        f"(SELECT p.{column} FROM {_POSITIONS} p WHERE p.symbol = m.symbol AND p.side = '{side}' "
        f"AND p.status = '{PositionStatus.OPEN}'{has_price} ORDER BY p.{column} {direction} LIMIT 1)"
    )


_LONG, _SHORT = PositionSide.LONG, PositionSide.SHORT
_FROM_MARKETS = "FROM unnest(%s::text[]) AS m(symbol)"
LIQUIDATION_ENDS_SQL = (
    f"SELECT max({_end('liquidation_price', _LONG, 'DESC', nullable=False)}), "
    f"min({_end('liquidation_price', _SHORT, 'ASC', nullable=False)}) {_FROM_MARKETS}"
)
TPSL_ENDS_SQL = (
    f"SELECT max({_end('stop_loss_price', _LONG, 'DESC', nullable=True)}), "
    f"min({_end('stop_loss_price', _SHORT, 'ASC', nullable=True)}), "
    f"min({_end('take_profit_price', _LONG, 'ASC', nullable=True)}), "
    f"max({_end('take_profit_price', _SHORT, 'DESC', nullable=True)}) {_FROM_MARKETS}"
)


class LiquidationEnds(NamedTuple):
    long_top: Decimal | None  # the highest long liquidation price: a tick at or below it crosses
    short_low: Decimal | None  # the lowest short liquidation price: a tick at or above it crosses

    def crossed_by(self, price: Decimal) -> bool:
        return reaches(self.long_top, price) or reaches(price, self.short_low)


class TpslEnds(NamedTuple):
    long_sl_top: Decimal | None
    short_sl_low: Decimal | None
    long_tp_low: Decimal | None
    short_tp_top: Decimal | None

    def crossed_by(self, price: Decimal) -> bool:
        """Whether ``price`` may cross a take-profit or stop-loss (``tpsl_candidates``' ranges)."""
        return (
            reaches(self.long_sl_top, price)
            or reaches(price, self.short_sl_low)
            or reaches(price, self.long_tp_low)
            or reaches(self.short_tp_top, price)
        )


def reaches(high: Decimal | None, low: Decimal | None) -> bool:
    """``high >= low``, False when either end is missing (no such row)."""
    return high is not None and low is not None and high >= low


def liquidation_ends(*, symbols: Sequence[str]) -> LiquidationEnds:
    """The ends of the open positions' liquidation prices over ``symbols`` (one index's perps)."""
    if connection.vendor != "postgresql":
        return LiquidationEnds(
            *_ends_orm(symbols, ("liquidation_price", _LONG, Max), ("liquidation_price", _SHORT, Min))
        )
    with connection.cursor() as cursor:
        cursor.execute(LIQUIDATION_ENDS_SQL, [list(symbols)])
        return LiquidationEnds(*cursor.fetchone())


def tpsl_ends(*, symbols: Sequence[str]) -> TpslEnds:
    """The ends of the open positions' stop-loss and take-profit prices over ``symbols``."""
    if connection.vendor != "postgresql":
        return TpslEnds(
            *_ends_orm(
                symbols,
                ("stop_loss_price", _LONG, Max),
                ("stop_loss_price", _SHORT, Min),
                ("take_profit_price", _LONG, Min),
                ("take_profit_price", _SHORT, Max),
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(TPSL_ENDS_SQL, [list(symbols)])
        return TpslEnds(*cursor.fetchone())


def _ends_orm(symbols: Sequence[str], *ends: tuple) -> list[Decimal | None]:
    open_rows = Position.objects.filter(status=PositionStatus.OPEN, symbol__in=list(symbols))
    return [open_rows.filter(Q(side=side)).aggregate(end=aggregate(column))["end"] for column, side, aggregate in ends]
