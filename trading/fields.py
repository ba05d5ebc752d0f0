"""Strict request fields: no floats, no coercion of booleans or numbers to strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

if TYPE_CHECKING:
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object  # a mixin: the serializer class comes after it in the bases

_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@extend_schema_field(OpenApiTypes.STR)
class StrictDecimalField(serializers.Field):
    """A positive decimal given as a JSON string (``"1.5"``) or number (parsed as Decimal).

    Refuses booleans, null, exponents in strings, spaces, commas, NaN/Infinity, zero and
    negatives (``"-0"`` included), more than ``max_decimal_places`` and values above ``max_value``.
    """

    default_error_messages = {
        "invalid_type": "A decimal string or number is required.",
        "invalid": "Not a plain decimal number (digits and one optional '.', e.g. \"1.25\").",
        "not_finite": "Must be a finite number.",
        "not_positive": "Must be greater than zero.",
        "too_large": "Must be at most {max_value}.",
        "max_decimal_places": "At most {max_decimal_places} decimal places.",
    }

    def __init__(self, *, max_decimal_places: int, max_value: Decimal, allow_zero: bool = False, **kwargs) -> None:
        self.max_decimal_places = max_decimal_places
        self.max_value = max_value
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, Decimal)):
            self.fail("invalid_type")
        if isinstance(data, str):
            if not _PLAIN_DECIMAL.fullmatch(data):
                self.fail("invalid")
        try:
            value = Decimal(data)
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("not_finite")
        if value < 0 or (value == 0 and not self.allow_zero) or (value == 0 and value.is_signed()):
            self.fail("not_positive")
        if value > self.max_value:
            self.fail("too_large", max_value=self.max_value)
        exponent = value.as_tuple().exponent  # an int: the value is finite
        if isinstance(exponent, int) and exponent < -self.max_decimal_places:
            self.fail("max_decimal_places", max_decimal_places=self.max_decimal_places)
        return value

    def to_representation(self, value) -> str:
        return str(value)


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of stringifying them."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NoExtraFieldsMixin(_SerializerBase):
    """Unknown keys (``user``, ``fee``, ``price``...) are a 400 naming each key."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for key in unknown}
                )
        return super().to_internal_value(data)


def inline_choice_field(choices: list[tuple[str, str]]) -> Callable[..., serializers.ChoiceField]:
    """A ChoiceField documented as a string pattern, not a named enum component: position fields
    reuse names (``side``, ``status``, ``symbol``, ``type``) of spot fields with other choices,
    and enum components would collide (drf-spectacular W001 under ``check --deploy``) unless
    the shared ``SPECTACULAR_SETTINGS`` got overrides."""

    values = [value for value, _label in choices]
    schema = {"type": "string", "pattern": f"^({'|'.join(values)})$", "description": f"One of: {', '.join(values)}."}

    @extend_schema_field(schema)
    class InlineChoiceField(serializers.ChoiceField):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(choices=choices, **kwargs)

    return InlineChoiceField


CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def client_order_id_check(value: str) -> str:
    """1-64 characters of ``[A-Za-z0-9_-]``."""
    if not re.fullmatch(CLIENT_ORDER_ID_PATTERN, value):
        raise serializers.ValidationError("1-64 characters of A-Z a-z 0-9 _ -.", code="invalid")
    return value


def client_order_id_resolve(attrs: dict, header: str | None) -> dict:
    """Take the id from the ``Idempotency-Key`` header or the body (they must agree); it is required."""
    from trading.errors import IdempotencyKeyMismatch

    body = attrs.get("client_order_id")
    if header is not None:
        try:
            header = client_order_id_check(header)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"Idempotency-Key": exc.detail}) from None
        if body is not None and body != header:
            raise IdempotencyKeyMismatch(extra={"client_order_id": body, "idempotency_key": header})
        attrs["client_order_id"] = header
    elif body is None:
        raise serializers.ValidationError(
            {"client_order_id": [serializers.ErrorDetail("This field is required.", code="required")]}
        )
    return attrs
