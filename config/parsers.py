"""JSON request parsing that refuses what ``json.loads`` would accept too kindly.

* ``NaN`` / ``Infinity`` literals are rejected (they are not JSON).
* Numbers are parsed as ``Decimal`` so a price or quantity never passes through float.
* Excessive nesting (a 20,000-deep array) is a 400, not a RecursionError 500.
* Duplicate keys are rejected: ``{"qty": "1", "qty": "100"}`` has no single meaning.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def _reject_constant(name: str):
    raise ParseError(f"JSON parse error - {name} is not valid JSON")


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - json only hands valid literals
        raise ParseError("JSON parse error - bad number") from exc


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ParseError(f"JSON parse error - duplicate key {key!r}")
        result[key] = value
    return result


def _depth_ok(text: str, limit: int) -> bool:
    """Cheap pre-scan: bracket depth outside strings never exceeds ``limit``."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads_strict(text: str):
    if not _depth_ok(text, MAX_DEPTH):
        raise ParseError(f"JSON parse error - nesting deeper than {MAX_DEPTH}")
    try:
        return json.loads(
            text,
            parse_float=_parse_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except ParseError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from exc


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError("JSON parse error - body is not valid UTF-8") from exc
        return loads_strict(text)
