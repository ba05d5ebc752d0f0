"""Which fields an order of each type takes (the input serializer's cross-field rules), kept
apart from the view. A market order takes none of the others'; a limit needs ``qty`` and
``limit_price``; a stop ``qty`` and ``stop_price``; a stop-limit all three. ``post_only`` goes
with a limit only; a stop rests until it triggers, so it takes ``gtc``/``gtd`` (a stop-limit also
``ioc``/``fok``: they apply to its limit once triggered). ``expire_at`` (future) goes with ``gtd``
and only with it."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from trading.models import OrderType, TimeInForce

PRICE_FIELDS: dict[str, tuple[str, ...]] = {
    OrderType.MARKET: (),
    OrderType.LIMIT: ("limit_price",),
    OrderType.STOP: ("stop_price",),
    OrderType.STOP_LIMIT: ("stop_price", "limit_price"),
}
TIFS: dict[str, tuple[str, ...]] = {
    OrderType.LIMIT: tuple(TimeInForce),
    OrderType.STOP: (TimeInForce.GTC, TimeInForce.GTD),
    OrderType.STOP_LIMIT: tuple(TimeInForce),
}
RESTING_ONLY = ("time_in_force", "expire_at")


def _error(field: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


def order_fields_check(attrs: dict[str, Any]) -> None:
    """400 with the field and a code: a price field the type does not take
    (``not_allowed_for_type``) or lacks (``required``), ``post_only`` off a limit, a time in force
    the type does not take (``tif_not_allowed``), ``expire_at`` without gtd or in the past."""
    type_: str = attrs["type"]
    takes = PRICE_FIELDS[type_]
    for name in ("limit_price", "stop_price"):
        if name in attrs and name not in takes:
            raise _error(name, f"A {type_} order does not take {name}.", "not_allowed_for_type")
        if name in takes and name not in attrs:
            raise _error(name, f"A {type_} order needs {name}.", "required")
    if "post_only" in attrs and type_ != OrderType.LIMIT:
        raise _error("post_only", "post_only goes with a limit order only.", "not_allowed_for_type")
    if type_ == OrderType.MARKET:
        for name in RESTING_ONLY:
            if name in attrs:
                raise _error(name, "A market order fills now: it takes no time in force.", "not_allowed_for_type")
        return
    if "notional" in attrs or "qty" not in attrs:
        raise _error("qty", f"A {type_} order is sized by qty (not notional).", "qty_required_for_type")
    tif = attrs.get("time_in_force", TimeInForce.GTC)
    if tif not in TIFS[type_]:
        allowed = ", ".join(TIFS[type_])
        raise _error("time_in_force", f"A {type_} order takes time_in_force {allowed}.", "tif_not_allowed")
    expire_at_check(attrs, tif)


def expire_at_check(attrs: dict[str, Any], tif: str) -> None:
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


def data_for_stop(data: dict[str, Any]) -> dict[str, Any]:
    """The validated fields as ``stop_order_place`` takes them."""
    return {
        "client_order_id": data["client_order_id"],
        "symbol": data["symbol"],
        "side": data["side"],
        "type": data["type"],
        "qty": data["qty"],
        "stop_price": data["stop_price"],
        "limit_price": data.get("limit_price"),
        "time_in_force": data.get("time_in_force", TimeInForce.GTC),
        "expire_at": data.get("expire_at"),
    }
