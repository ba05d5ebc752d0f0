"""The query plans ``bench_triggers.py`` prints on the quiet copy (EXPLAIN ANALYZE): the limit
engine's probe of its index's ends and its candidates at a busy and a nearly quiet price, and the
stop engine's statements (``waiting_stops``, captured as it runs them) at a price that crosses no
stop and at one that crosses some of the book's waiting stops."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D


def _print(title: str, plan: list[str]) -> None:
    print(f"EXPLAIN ANALYZE {title}:\n    " + "\n    ".join(plan))


def plans_print(symbols: list[str], *, busy: str, stop_prices: tuple[str, ...]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from trading.services.order_triggers import Touch, crossed_bounds_query, crossed_orders_query
    from trading.services.stop_triggers import waiting_stops

    _print("the probe of the index's ends (a tick that crosses none stops there)",
           crossed_bounds_query(symbols).explain(analyze=True).splitlines())  # fmt: skip
    for price in (busy, "99.9"):
        touch = Touch(index=D(price), buy=D(price), sell=D(price))
        query = crossed_orders_query(symbols=symbols, touch=touch, before=datetime.now(timezone.utc))
        assert query is not None
        _print(f"candidates at P={price}", query.explain(analyze=True).splitlines())
    for price in stop_prices:
        with CaptureQueriesContext(connection) as queries:
            found = waiting_stops(symbols=symbols, index=D(price), before=datetime.now(timezone.utc))
        for n, query in enumerate(queries.captured_queries, 1):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN ANALYZE {query['sql']}")
                plan = [row[0] for row in cursor.fetchall()]
            _print(f"waiting_stops at P={price} ({len(found)} crossed), statement {n} of "
                   f"{len(queries.captured_queries)}", plan)  # fmt: skip
