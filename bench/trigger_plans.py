"""The query plans ``bench_triggers.py`` prints on the quiet copy (EXPLAIN ANALYZE): the limit
engine's probe of its index's ends and its candidates at a busy and a nearly quiet price, and the
stop engine's statements (``waiting_stops``, captured as it runs them) at a price that crosses no
stop and at one that crosses some of the book's waiting stops, and the TP/SL engine's candidates
(``tpsl_candidates``) at the quiet price."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D
from typing import Any


def _print(title: str, plan: list[str]) -> None:
    print(f"EXPLAIN ANALYZE {title}:\n    " + "\n    ".join(plan))


def _captured(run) -> tuple[Any, list[str]]:
    """``run()``'s answer and the statements it sent (as sent: parameters in place)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        answer = run()
    return answer, [query["sql"] for query in queries.captured_queries]


def _explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ANALYZE {sql}")
        return [row[0] for row in cursor.fetchall()]


def plans_print(symbols: list[str], *, busy: str, stop_prices: tuple[str, ...], quiet: str) -> None:
    from pricing.markets import registry_get
    from trading.perp_markets import perp_markets_by_index
    from trading.services.order_triggers import Touch, crossed_orders_query
    from trading.services.position_triggers import tpsl_candidates
    from trading.services.stop_triggers import waiting_stops
    from trading.trigger_pg import trigger_statements

    def index_of(symbol: str) -> str:
        return registry_get().markets[symbol].index_symbol

    _, sqls = _captured(lambda: trigger_statements().limit_ends(symbols=symbols))
    _print("the probe of the index's ends (a tick that crosses none stops there)", _explain(sqls[0]))
    for price in (busy, "99.9"):
        touch = Touch(index=D(price), buy=D(price), sell=D(price))
        query = crossed_orders_query(symbols=symbols, touch=touch, before=datetime.now(timezone.utc))
        assert query is not None
        _print(f"candidates at P={price}", query.explain(analyze=True).splitlines())
    for price in stop_prices:
        now = datetime.now(timezone.utc)
        found, sqls = _captured(lambda p=price, t=now: waiting_stops(symbols=symbols, index=D(p), before=t))
        for n, sql in enumerate(sqls, 1):
            _print(f"waiting_stops at P={price} ({len(found)} crossed), statement {n} of {len(sqls)}", _explain(sql))
    perps = list(perp_markets_by_index().get(index_of(symbols[0]), ()))
    if perps:
        now = datetime.now(timezone.utc)
        found, sqls = _captured(lambda: tpsl_candidates(price=D(quiet), symbols=perps, before=now))
        for n, sql in enumerate(sqls, 1):
            _print(f"TP/SL candidates (tpsl_candidates) at P={quiet} ({len(found)} crossed), statement {n}",
                   _explain(sql))  # fmt: skip


def quiet_parts(index: str, price: str, runs: int = 50) -> list[tuple[str, list[float]]]:
    """Each engine of the tick task alone at a ``price`` that crosses nothing, ``runs`` times:
    ``(name, milliseconds)`` in the task's order."""
    import time

    from trading.services.liquidation import liquidation_run
    from trading.services.order_triggers import order_triggers_run
    from trading.services.position_entries import position_entries_run
    from trading.services.position_triggers import position_triggers_run
    from trading.services.stop_triggers import stop_triggers_run

    engines = {
        "TP/SL (position_triggers_run)": lambda at: position_triggers_run(index_symbol=index, price=D(price),
                                                                          computed_at=at),
        "liquidations (liquidation_run)": lambda at: liquidation_run(price=D(price), computed_at=at,
                                                                     index_symbol=index),
        "limit entries (position_entries_run)": lambda at: position_entries_run(index_symbol=index, price=D(price),
                                                                                computed_at=at),
        "stops (stop_triggers_run)": lambda at: stop_triggers_run(index_symbol=index, price=D(price), computed_at=at),
        "limits (order_triggers_run)": lambda at: order_triggers_run(index_symbol=index, price=D(price),
                                                                     computed_at=at),
    }  # fmt: skip
    out: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, run in engines.items():
            started = time.perf_counter()
            run(datetime.now(timezone.utc))
            out[name].append((time.perf_counter() - started) * 1000)
    return list(out.items())
