"""One statement that says when a tick can act at all: the ends of every partial index the tick's
engines read (TP/SL, liquidations and limit entries on the index's perp markets; stops and
resting limits on its spot markets), in one round trip. A quiet tick -- the common case -- costs
the tick task this statement and nothing else; a tick that may cross something runs the engines,
each of which probes its own index again (``trading.position_ends_pg``, ``trading.trigger_pg``).

The text is the engines' own probes side by side (each a one-row subquery), so it never changes
and each part keeps its index; SQLite (embedded mode) asks the engines' probes one by one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from pricing.markets import registry_get
from trading.position_ends_pg import (
    LIQUIDATION_ENDS_SQL,
    TPSL_ENDS_SQL,
    LiquidationEnds,
    TpslEnds,
    liquidation_ends,
    reaches,
    tpsl_ends,
)
from trading.trigger_pg import LIMIT_ENDS_SQL, STOP_ENDS_SQL, trigger_statements

_PARTS = (TPSL_ENDS_SQL, LIQUIDATION_ENDS_SQL, LIMIT_ENDS_SQL, STOP_ENDS_SQL, LIMIT_ENDS_SQL)
_TICK_ENDS = "SELECT * FROM " + ", ".join(f"({sql}) AS part{n}" for n, sql in enumerate(_PARTS))


class TickEnds(NamedTuple):
    tpsl: TpslEnds
    liquidation: LiquidationEnds
    entries: tuple[Decimal | None, Decimal | None]  # the perps' top buy limit, lowest sell limit
    stops: tuple[Decimal | None, Decimal | None]  # the spots' lowest buy stop, highest sell stop
    limits: tuple[Decimal | None, Decimal | None]  # the spots' top buy limit, lowest sell limit

    def may_act(self, *, price: Decimal, buy: Decimal, sell: Decimal, marks: Collection[Decimal] = ()) -> bool:
        """Whether a tick at index ``price`` (a buy limit fills at ``buy``, the ask; a sell at
        ``sell``, the bid) with the perp markets' ``marks`` (TP/SL and liquidations act at a
        perp's mark; none given: the index) may cross anything: False means every engine would
        find nothing. The ends are over all the index's perps, so a mark is checked against them
        all: never a missed crossing, at worst an engine run that finds nothing."""
        (entry_buy, entry_sell), (stop_buy, stop_sell), (limit_buy, limit_sell) = self.entries, self.stops, self.limits
        return (
            any(self.tpsl.crossed_by(mark) or self.liquidation.crossed_by(mark) for mark in (marks or (price,)))
            or reaches(entry_buy, price)
            or reaches(price, entry_sell)
            or reaches(price, stop_buy)
            or reaches(stop_sell, price)
            or reaches(limit_buy, buy)
            or reaches(sell, limit_sell)
        )


def tick_may_act(
    *,
    index_symbol: str,
    price: Decimal,
    bid: Decimal | None,
    ask: Decimal | None,
    marks: Mapping[str, Decimal] | None = None,
) -> bool:
    """False when a tick of ``index_symbol`` (its perp markets at ``marks``, else at the index)
    crosses nothing any engine acts on (one statement)."""
    perps: list[str] = []
    spots: list[str] = []
    for market in registry_get().markets.values():
        if market.index_symbol == index_symbol:
            (perps if market.is_perp else spots).append(market.symbol)
    if not (perps or spots):
        return False
    ends = tick_ends(perps=perps, spots=spots)
    perp_marks = {(marks or {}).get(symbol, price) for symbol in perps}
    buy, sell = (ask if ask is not None else price), (bid if bid is not None else price)
    return ends.may_act(price=price, buy=buy, sell=sell, marks=perp_marks)


def tick_ends(*, perps: Sequence[str], spots: Sequence[str]) -> TickEnds:
    """The ends of the index's perp markets ``perps`` and spot markets ``spots``."""
    if connection.vendor != "postgresql":
        sql = trigger_statements()
        return TickEnds(
            tpsl_ends(symbols=perps), liquidation_ends(symbols=perps), sql.limit_ends(symbols=perps),
            sql.stop_ends(symbols=spots), sql.limit_ends(symbols=spots),
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_TICK_ENDS, [list(perps), list(perps), list(perps), list(spots), list(spots)])
        row = cursor.fetchone()
    return TickEnds(TpslEnds(*row[0:4]), LiquidationEnds(*row[4:6]), row[6:8], row[8:10], row[10:12])
