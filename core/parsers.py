"""JSON request parsing that refuses what ``json.loads`` would accept too kindly.

* ``NaN`` / ``Infinity`` literals are rejected (they are not JSON).
* Numbers are parsed as ``Decimal`` so a price or quantity never passes through float.
* Excessive nesting (a 20,000-deep array) is a 400, not a RecursionError 500.
* Duplicate keys are rejected: ``{"qty": "1", "qty": "100"}`` has no single meaning.
* A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413 ``payload_too_large``: refused on its
  declared ``Content-Length`` before anything is read, and never read past the limit + 1 byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import IO, Any, NoReturn

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.errors import PayloadTooLarge

MAX_DEPTH = 32


def _reject_constant(name: str) -> NoReturn:
    raise ParseError(f"JSON parse error - {name} is not valid JSON")


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - json only hands valid literals
        raise ParseError("JSON parse error - bad number") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
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


def loads_strict(text: str) -> Any:
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


def _declared_length(request: object) -> int:
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


def read_limited(stream: IO[bytes], request: object | None) -> bytes:
    """The body, or ``PayloadTooLarge`` when its Content-Length or its actual size is over the limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    if request is not None and _declared_length(request) > limit:
        raise PayloadTooLarge()
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge()
    return raw


class StrictJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        raw = read_limited(stream, parser_context.get("request"))
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError("JSON parse error - body is not valid UTF-8") from exc
        return loads_strict(text)
