"""PostgreSQL array literals for set-based statements (``unnest(%s::bigint[], ...)``).

psycopg adapts a Python list element by element in Python (1-2 us each); a batch of thousands
of rows sends one text parameter instead, built here with C-level string operations and cast
in the SQL. ``num_array`` is for ints, Decimals and UUIDs (their ``str`` never needs quoting);
``text_array`` quotes every element, so any string is safe (and ``NULL`` stays the text NULL).
"""

from __future__ import annotations

from collections.abc import Iterable


def num_array(values: Iterable) -> str:
    """``{1,2,3}`` of ints, Decimals or UUIDs."""
    return "{" + ",".join(map(str, values)) + "}"


def text_array(values: Iterable[str]) -> str:
    """``{"a","b \\"c\\""}``: every element double-quoted, backslashes and quotes escaped."""
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"
