"""Alpaca's objects built from ours: order, position, account, clock, activities.

Money and quantities are decimal strings without exponent or trailing zeros (``"0"``, never
``"0E-9"``); times are RFC 3339 UTC; enums lowercase, as alpaca-py's models parse them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from core.timefmt import iso_utc, iso_utc_or_none
from pricing.markets import MarketSpec
from trading.alpaca.assets import asset_id, market_of_symbol, order_symbol, position_symbol
from trading.models import Order, OrderStatus

ACCOUNT_NAMESPACE = uuid.UUID("0c2f6f4e-7d0b-4f44-8c7f-3b1c9c6d2e51")  # fixed: account ids must never change


def num(value: Decimal | int | None) -> str | None:
    """A decimal as Alpaca's plain string: ``"1.5"``, ``"0"``, ``"100"`` (never ``"0E-9"``, ``"1E+2"``)."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _ended_at(order: Order, status: str) -> str | None:
    return iso_utc_or_none(order.closed_at) if order.status == status else None


def _replaced_by(order: Order) -> str | None:
    if order.status != OrderStatus.REPLACED:
        return None  # only a replaced order has a successor: no query for the others
    try:
        successor = order.replaced_by  # reverse one-to-one (select_related by the list views)
    except Order.DoesNotExist:
        return None
    return str(successor.pk)


def order_object(order: Order) -> dict[str, Any]:
    """Alpaca's Order. A market order reports ``gtc`` (we keep no time in force for it); ``qty``
    is null for a notional order, as Alpaca's is."""
    market = market_of_symbol(order.symbol)
    updated = order.closed_at or order.filled_at or order.created_at
    return {
        "id": str(order.pk),
        "client_order_id": order.client_order_id,
        "created_at": iso_utc(order.created_at),
        "updated_at": iso_utc(updated),
        "submitted_at": iso_utc(order.created_at),
        "filled_at": iso_utc_or_none(order.filled_at),
        "expired_at": _ended_at(order, OrderStatus.EXPIRED),
        "expires_at": iso_utc_or_none(order.expire_at),
        "canceled_at": _ended_at(order, OrderStatus.CANCELED),
        "failed_at": _ended_at(order, OrderStatus.REJECTED),
        "replaced_at": _ended_at(order, OrderStatus.REPLACED),
        "replaced_by": _replaced_by(order),
        "replaces": str(order.replaces_id) if order.replaces_id else None,
        "asset_id": str(asset_id(market)) if market else None,
        "symbol": order_symbol(market) if market else order.symbol,
        "asset_class": "crypto",
        "notional": num(order.notional),
        "qty": num(order.qty),
        "filled_qty": num(order.filled_qty),
        "filled_avg_price": num(order.filled_avg_price),
        "order_class": "",
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "position_intent": "buy_to_open" if order.side == "buy" else "sell_to_close",
        "time_in_force": order.time_in_force or "gtc",
        "limit_price": num(order.limit_price),
        "stop_price": num(order.stop_price),
        "status": order.status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "subtag": None,
        "source": None,
    }


def order_object_as_new(order: Order) -> dict[str, Any]:
    """The order as it was when it was accepted (the stream's ``new`` of an order that filled at once)."""
    data = order_object(order)
    data.update(status=OrderStatus.NEW, filled_qty="0", filled_avg_price=None, filled_at=None,
                updated_at=data["created_at"])  # fmt: skip
    return data


def _ratio(part: Decimal, whole: Decimal | None) -> str:
    return num((part / whole).quantize(Decimal("0.0000000001"))) or "0" if whole else "0"


def position_object(market: MarketSpec, holding: dict[str, Any], day_ago: Decimal | None) -> dict[str, Any]:
    """Alpaca's Position of a spot holding (a row of ``portfolio_summary_get``'s ``holdings``):
    always long; ``qty_available`` is what resting orders do not hold."""
    qty, price = holding["qty"], holding["price"]
    cost = holding["cost_basis"]
    value = holding["value"] if holding["value"] is not None else Decimal(0)
    lastday = day_ago if day_ago is not None else price
    pnl = value - cost
    intraday = qty * (price - lastday) if price is not None and lastday is not None else Decimal(0)
    return {
        "asset_id": str(asset_id(market)),
        "symbol": position_symbol(market),
        "exchange": "CRYPTO",
        "asset_class": "crypto",
        "asset_marginable": False,
        "qty": num(qty),
        "qty_available": num(holding["free"]),
        "avg_entry_price": num(holding["avg_cost"] or Decimal(0)),
        "side": "long",
        "market_value": num(value),
        "cost_basis": num(cost),
        "unrealized_pl": num(pnl),
        "unrealized_plpc": _ratio(pnl, cost),
        "unrealized_intraday_pl": num(intraday.quantize(Decimal("0.000001"))),
        "unrealized_intraday_plpc": _ratio(intraday, value - intraday),
        "current_price": num(price),
        "lastday_price": num(lastday),
        "change_today": _ratio(price - lastday, lastday) if price is not None and lastday else "0",
    }


def account_id_of(user_id: int) -> uuid.UUID:
    return uuid.uuid5(ACCOUNT_NAMESPACE, f"user:{user_id}")


def account_object(user, summary: dict[str, Any], last_equity: Decimal | None) -> dict[str, Any]:
    """Alpaca's TradeAccount from the portfolio summary: cash = USD total, buying power = free
    USD, equity = the portfolio's equity (each token at its index), no margin, no shorting."""
    usd = summary["balances"]["USD"]
    long_value = sum((h["value"] or Decimal(0) for h in summary["holdings"]), Decimal(0))
    equity = summary["equity"] if summary["equity"] is not None else usd["total"] + long_value
    return {
        "id": str(account_id_of(user.pk)),
        "account_number": f"SP{user.pk:010d}",
        "status": "ACTIVE" if user.is_active else "ACCOUNT_CLOSED",
        "crypto_status": "ACTIVE",
        "currency": "USD",
        "buying_power": num(usd["free"]),
        "regt_buying_power": num(usd["free"]),
        "daytrading_buying_power": "0",
        "non_marginable_buying_power": num(usd["free"]),
        "options_buying_power": "0",
        "cash": num(usd["total"]),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "portfolio_value": num(equity),
        "equity": num(equity),
        "last_equity": num(last_equity if last_equity is not None else summary["starting_equity"]),
        "long_market_value": num(long_value),
        "short_market_value": "0",
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "sma": "0",
        "multiplier": "1",
        "pattern_day_trader": False,
        "trading_blocked": not user.is_active,
        "transfers_blocked": True,
        "account_blocked": not user.is_active,
        "trade_suspended_by_user": False,
        "shorting_enabled": False,
        "daytrade_count": 0,
        "options_approved_level": 0,
        "options_trading_level": 0,
        "created_at": iso_utc(user.created_at),
    }


def clock_object(now: datetime | None = None) -> dict[str, Any]:
    """A 24/7 venue: always open; the next open is now and the next close a day away (there is none)."""
    now = now or timezone.now()
    return {
        "timestamp": iso_utc(now),
        "is_open": True,
        "next_open": iso_utc(now),
        "next_close": iso_utc(now + timedelta(days=1)),
    }
