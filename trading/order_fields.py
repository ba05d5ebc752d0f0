"""Which fields an order of each type takes (the input serializer's cross-field rules), kept
apart from the view: a market order takes none of a limit's; a limit needs ``qty`` and
``limit_price``; ``expire_at`` (future) goes with ``gtd`` and only with it."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from trading.models import OrderType, TimeInForce

LIMIT_ONLY = ("limit_price", "time_in_force", "expire_at", "post_only")


def _error(field: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


def limit_fields_check(attrs: dict[str, Any]) -> None:
    if attrs.get("type") != OrderType.LIMIT:
        for name in LIMIT_ONLY:
            if name in attrs:
                raise _error(name, "Only a limit order takes this field.", "not_allowed_for_type")
        return
    if "limit_price" not in attrs:
        raise _error("limit_price", "A limit order needs limit_price.", "required")
    if "notional" in attrs or "qty" not in attrs:
        raise _error("qty", "A limit order is sized by qty (not notional).", "qty_required_for_limit")
    tif = attrs.get("time_in_force", TimeInForce.GTC)
    if tif == TimeInForce.GTD and "expire_at" not in attrs:
        raise _error("expire_at", "A gtd order needs expire_at.", "required")
    if tif != TimeInForce.GTD and "expire_at" in attrs:
        raise _error("expire_at", "expire_at goes with time_in_force gtd only.", "not_allowed_for_tif")
    if "expire_at" in attrs and attrs["expire_at"] <= timezone.now():
        raise _error("expire_at", "expire_at must be in the future.", "expire_at_past")


def data_for_limit(data: dict[str, Any]) -> dict[str, Any]:
    """The validated fields as ``limit_order_place`` takes them."""
    return {
        "client_order_id": data["client_order_id"],
        "symbol": data["symbol"],
        "side": data["side"],
        "qty": data["qty"],
        "limit_price": data["limit_price"],
        "time_in_force": data.get("time_in_force", TimeInForce.GTC),
        "expire_at": data.get("expire_at"),
        "post_only": data.get("post_only", False),
    }
