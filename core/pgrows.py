"""Many rows (or values) as ONE query parameter: a JSON array, expanded in SQL by ``jsonb_array_elements``.

The set-based statements (``portfolio.pg``, ``trading.pg``, ``realtime.pg``) write or match
thousands of rows in one statement. psycopg adapts a Python list to an array parameter, but
element by element in Python (0.5-1.2 us a value, measured); a liquidation batch of 1,000
positions sends ~45,000 values, so ten arrays per batch as lists cost a fifth more client CPU.
``json.dumps`` serialises the same values in C, and the server types them column by column::

    ENTRIES = rows_sql("e", txn_id="bigint", amount="numeric")
    # (SELECT (r->>0)::bigint AS txn_id, (r->>1)::numeric AS amount
    #  FROM jsonb_array_elements(%s::jsonb) AS r) AS e
    cursor.execute(f"INSERT INTO t (txn_id, amount) SELECT e.txn_id, e.amount FROM {ENTRIES}", [json_param(rows)])

A set of single values (ids) is one JSON array too: ``WHERE id IN {values_sql("uuid")}`` with
``json_param(ids)`` (a join: the planner probes the primary key once per id). Small fixed lists
(a few statuses) stay plain list parameters.

Values never enter the SQL text: the parameter goes through the driver like any other.
Decimals and UUIDs travel as JSON strings (exact: never a float), ints as JSON numbers, text
escaped by the json module, ``None`` as null (SQL ``NULL``); a column of type ``json`` takes the
element as it is (a ``jsonb`` value: the event log's payload column is ``jsonb``).

``jsonb``, not ``json``: the parameter is parsed once into its binary form and each column is
then a cheap extraction; with ``json`` every ``r->>i`` re-parses the row's text. Measured on a
10,000-position liquidation tick (bench_liquidation inline, statement log): ``json`` rows cost
PostgreSQL ~0.3 s more than the ``unnest`` arrays they replaced (the event log's insert, whose
payload element was parsed three times, nearly doubled); ``jsonb`` rows are back to within a few
percent of ``unnest``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def json_param(items: Iterable) -> str:
    """The one parameter of a ``rows_sql`` row set (each row a sequence of its values, in the
    columns' order) or of a ``values_sql`` set (plain values)."""
    return json.dumps(list(items), default=str, separators=(",", ":"))


def rows_sql(alias: str, **columns: str) -> str:
    """A row set in ``FROM``, named ``alias``, with the ``columns`` (name=SQL type, in order) of
    ONE ``%s`` json parameter (``json_param``). Built from names and types only, never values."""
    fields = ", ".join(
        f"r->{i} AS {name}" if kind == "json" else f"(r->>{i})::{kind} AS {name}"
        for i, (name, kind) in enumerate(columns.items())
    )
    return f"(SELECT {fields} FROM jsonb_array_elements(%s::jsonb) AS r) AS {alias}"


def values_sql(kind: str) -> str:
    """``(SELECT value::kind FROM jsonb_array_elements_text(%s::jsonb))``: ONE ``%s`` json parameter
    (``json_param``) as a set of ``kind`` values, for ``IN``."""
    return f"(SELECT value::{kind} FROM jsonb_array_elements_text(%s::jsonb))"
