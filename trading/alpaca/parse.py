"""Reading ``/v2`` requests: the body's numbers and strings as ``Decimal`` (from the JSON text,
never through float: ``core.parsers.StrictJSONParser`` hands numbers over as ``Decimal``), and
the query's filters. Each refusal is Alpaca's 422 ``40010001`` naming the field."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from pricing.markets import MarketSpec
from trading.alpaca.assets import AssetNotFound, market_resolve
from trading.alpaca.errors import invalid
from trading.fields import CLIENT_ORDER_ID_PATTERN

_PLAIN = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_PLACES = 9
MAX_VALUE = Decimal("1000000000000")
ORDER_TYPES = ("market", "limit", "stop_limit")
TIME_IN_FORCE = ("gtc", "ioc")


def decimal_of(data: dict[str, Any], name: str) -> Decimal | None:
    """``data[name]`` as a positive Decimal (a JSON number or a plain decimal string); ``None`` if absent."""
    raw = data.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise invalid(f"invalid {name}")
    if isinstance(raw, str) and not _PLAIN.fullmatch(raw.strip()):
        raise invalid(f"invalid {name}")
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except InvalidOperation:
        raise invalid(f"invalid {name}") from None
    if not value.is_finite() or value > MAX_VALUE:
        raise invalid(f"invalid {name}")
    if value <= 0:
        raise invalid(f"{name} must be > 0")
    value = value.normalize()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        raise invalid(f"{name} has more than {MAX_PLACES} decimal places")
    return value


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], message: str) -> str:
    raw = data.get(name)
    if raw is None:
        raise invalid(f"{name} is required")
    if not isinstance(raw, str) or raw.lower() not in allowed:
        raise invalid(message)
    return raw.lower()


def client_order_id_of(data: dict[str, Any]) -> str:
    """The client's id (1-64 of ``A-Z a-z 0-9 _ -``), or a new UUID (Alpaca's is optional; ours
    is the idempotency key)."""
    raw = data.get("client_order_id")
    if raw is None or raw == "":
        return str(uuid.uuid4())
    if not isinstance(raw, str) or not re.fullmatch(CLIENT_ORDER_ID_PATTERN, raw):
        raise invalid("client_order_id must be 1-64 characters of A-Z a-z 0-9 _ -")
    return raw


def market_of(data: dict[str, Any]) -> MarketSpec:
    raw = data.get("symbol")
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("symbol is required")
    try:
        return market_resolve(raw)
    except AssetNotFound:
        raise invalid(f'asset "{raw.strip()[:32]}" not found') from None


@dataclass(frozen=True)
class OrderInput:
    market: MarketSpec
    side: str
    type: str
    time_in_force: str
    client_order_id: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None


def order_input(data: Any) -> OrderInput:
    """``POST /v2/orders``: Alpaca's crypto rules (market / limit / stop_limit, gtc / ioc, spot only)."""
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    if data.get("order_class") not in (None, "", "simple"):
        raise invalid("crypto orders not allowed for advanced order_class")
    for name in ("trail_price", "trail_percent", "take_profit", "stop_loss", "legs"):
        if data.get(name) is not None:
            raise invalid(f"{name} is not supported for crypto orders")
    market = market_of(data)
    side = _choice(data, "side", ("buy", "sell"), "invalid side")
    type_ = _choice(data, "type", ORDER_TYPES, "invalid order type for crypto order")
    tif = _choice(data, "time_in_force", TIME_IN_FORCE, "invalid crypto time_in_force")
    qty, notional = decimal_of(data, "qty"), decimal_of(data, "notional")
    if qty is None and notional is None:
        raise invalid("qty or notional is required")
    if qty is not None and notional is not None:
        raise invalid("only one of qty or notional may be specified")
    if notional is not None and type_ != "market":
        raise invalid("notional is only allowed for market orders")
    limit_price, stop_price = decimal_of(data, "limit_price"), decimal_of(data, "stop_price")
    if type_ in ("limit", "stop_limit") and limit_price is None:
        raise invalid("limit_price is required")
    if type_ == "stop_limit" and stop_price is None:
        raise invalid("stop_price is required")
    if type_ == "market" and limit_price is not None:
        raise invalid("limit_price is not allowed for market orders")
    if type_ != "stop_limit" and stop_price is not None:
        raise invalid(f"stop_price is not allowed for {type_} orders")
    return OrderInput(market, side, type_, tif, client_order_id_of(data), qty, notional, limit_price, stop_price)


def replace_input(data: Any, *, time_in_force: str) -> dict[str, Any]:
    """``PATCH /v2/orders/{id}``: ``qty``, ``limit_price``, ``stop_price``, ``client_order_id``
    (the new order's); ``time_in_force`` only as it is; no ``trail``."""
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    if data.get("trail") is not None:
        raise invalid("trail is not supported for crypto orders")
    tif = data.get("time_in_force")
    if tif is not None and (not isinstance(tif, str) or tif.lower() != (time_in_force or "gtc")):
        raise invalid("time_in_force cannot be changed")
    changes = {name: decimal_of(data, name) for name in ("qty", "limit_price", "stop_price")}
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        raise invalid("qty, limit_price or stop_price is required")
    return {**changes, "client_order_id": client_order_id_of(data)}


def moment_of(params: Any, name: str) -> datetime | None:
    """A query time: RFC 3339 (naive = UTC) or a date (its midnight UTC)."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            moment = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise invalid(f"invalid {name}")
    return make_aware(moment, dt_timezone.utc) if is_naive(moment) else moment


def limit_of(params: Any, *, default: int, most: int) -> int:
    raw = params.get("limit") or params.get("page_size")
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or int(raw) < 1:
        raise invalid("invalid limit")
    return min(int(raw), most)


def direction_of(params: Any) -> str:
    raw = (params.get("direction") or "desc").lower()
    if raw not in ("asc", "desc"):
        raise invalid("invalid direction")
    return raw


def symbols_of(params: Any) -> list[str] | None:
    """``symbols=SOL/USD,BONKUSD`` as our market symbols; ``None`` when absent."""
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        return [market_resolve(part).symbol for part in raw.split(",") if part.strip()]
    except AssetNotFound:
        raise invalid("invalid symbols") from None
