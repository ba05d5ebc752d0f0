"""Cursor pagination that refuses a cursor it did not issue: 400 ``invalid_cursor``.

DRF's ``CursorPagination`` decodes ``?cursor=`` leniently (base64 ignoring stray characters) and
passes the decoded position straight into a ``filter()``: a cursor that decodes but whose position
is not a value of the ordering field (``cD1nYXJiYWdl`` is ``p=garbage``) raised a
``ValidationError`` deep in the ORM and answered 500. Here the cursor must be strict base64 of
``o=<offset>&r=<0|1>&p=<position>`` and the position must convert to the ordering field's type,
or the request is refused before any query.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, overload
from urllib import parse

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

from core.errors import DomainError

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from rest_framework.request import Request
    from rest_framework.views import APIView

_TOKENS = {"o", "r", "p"}
MAX_CURSOR_LENGTH = 512  # what this server issues is < 100 characters


class InvalidCursor(DomainError):
    status = 400
    code = "invalid_cursor"
    message = "The cursor is not one this server issued; start again without it."


@overload
def _single(tokens: dict[str, list[str]], name: str, default: str) -> str: ...
@overload
def _single(tokens: dict[str, list[str]], name: str, default: None) -> str | None: ...
def _single(tokens: dict[str, list[str]], name: str, default: str | None) -> str | None:
    values = tokens.get(name)
    if values is None:
        return default
    if len(values) != 1:
        raise ValueError(f"repeated {name}")
    return values[0]


class StrictCursorPagination(CursorPagination):
    """``CursorPagination`` with strict cursor decoding (see the module docstring)."""

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self._model = getattr(queryset, "model", None)  # a cursor pages a queryset (always has .model)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None or encoded == "":
            return None
        try:
            if len(encoded) > MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            text = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=3)
            if not set(tokens) <= _TOKENS:
                raise ValueError("unknown field")
            offset = int(_single(tokens, "o", "0"))
            if offset < 0:
                raise ValueError("negative offset")
            reverse = _single(tokens, "r", "0")
            if reverse not in {"0", "1"}:
                raise ValueError("bad direction")
            position = _single(tokens, "p", None)
            if position is not None:
                self._check_position(position)
        except (TypeError, ValueError, ValidationError, OverflowError) as exc:
            raise InvalidCursor() from exc
        # DRF keeps the position as the text it decoded; the stub types it int.
        return Cursor(
            offset=min(offset, self.offset_cutoff),
            reverse=reverse == "1",
            position=position,  # type: ignore[arg-type]
        )

    def _check_position(self, position: str) -> None:
        """The position must be a value of the first ordering field (what ``filter()`` gets)."""
        model = getattr(self, "_model", None)
        if model is None:
            return
        try:
            field = model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:
            return
        value = field.to_python(position)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime")  # every issued position carries its offset
            value.astimezone(timezone.utc)  # OverflowError at the ends of the calendar
