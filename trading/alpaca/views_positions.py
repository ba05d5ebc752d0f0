"""``/v2/positions``: the spot holdings as Alpaca's positions (long only), and closing them with
a market sell through the same order service as ``POST /api/v1/orders``."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from core.errors import DomainError
from portfolio.selectors import portfolio_summary_get
from pricing.market_selectors import prices_day_ago
from pricing.markets import MarketSpec
from trading.alpaca.assets import AssetNotFound, market_of_symbol, market_resolve
from trading.alpaca.base import AlpacaView
from trading.alpaca.errors import AlpacaError, invalid, to_alpaca
from trading.alpaca.objects import order_object, position_object
from trading.alpaca.parse import OrderInput, decimal_of
from trading.alpaca.views_orders import fresh, order_submit, spot_symbols
from trading.services.order_end import order_cancel_all


def _no_position() -> AlpacaError:
    return AlpacaError(404, 40410000, "position does not exist")


def positions_get(user) -> list[tuple[MarketSpec, dict[str, Any]]]:
    """Each spot holding with a quantity, with its market (``ASSET-USD``), from the portfolio summary."""
    held = []
    for holding in portfolio_summary_get(user=user)["holdings"]:
        market = market_of_symbol(holding["market"])
        if market is not None and holding["qty"] > 0:
            held.append((market, holding))
    return held


def _objects(held: list[tuple[MarketSpec, dict[str, Any]]]) -> list[dict[str, Any]]:
    day_ago = prices_day_ago([m.index_symbol for m, _ in held], now=timezone.now()) if held else {}
    return [position_object(market, holding, day_ago.get(market.index_symbol)) for market, holding in held]


def _position(user, symbol_or_id: str) -> tuple[MarketSpec, dict[str, Any]]:
    try:
        wanted = market_resolve(symbol_or_id, include_delisted=True)
    except AssetNotFound:
        raise _no_position() from None
    for market, holding in positions_get(user):
        if market.symbol == wanted.symbol:
            return market, holding
    raise _no_position()


def close_qty(market: MarketSpec, held: Decimal, params: Any) -> Decimal:
    """``qty`` (at most what is held) or ``percentage`` of it, down to the market's lot step; all of it by default."""
    qty, percentage = decimal_of(params, "qty"), decimal_of(params, "percentage")
    if qty is not None and percentage is not None:
        raise invalid("only one of qty or percentage may be specified")
    if percentage is not None:
        if percentage > 100:
            raise invalid("percentage must be <= 100")
        qty = held * percentage / 100
    if qty is None or qty > held:
        qty = held
    return (qty / market.qty_step).to_integral_value(rounding=ROUND_DOWN) * market.qty_step


def position_close(user, market: MarketSpec, holding: dict[str, Any], params: Any):
    """A market sell of the quantity to close, under a new client order id."""
    qty = close_qty(market, holding["qty"], params)
    if qty <= 0:
        raise invalid("qty must be > 0")
    order = OrderInput(market, "sell", "market", "gtc", str(uuid.uuid4()), qty, None, None, None)
    return fresh(order_submit(user, order))


class PositionsApi(AlpacaView):
    """``GET /v2/positions``; ``DELETE /v2/positions?cancel_orders=`` closes every one (207)."""

    def get(self, request):
        return Response(_objects(positions_get(request.user)))

    def delete(self, request):
        if (request.query_params.get("cancel_orders") or "").lower() == "true":
            order_cancel_all(user=request.user, symbols=spot_symbols())
        results = []
        for market, holding in positions_get(request.user):
            symbol = market.base.code + market.quote
            try:
                order = position_close(request.user, market, holding, {})
            except (DomainError, AlpacaError) as exc:  # each position answers for itself (207)
                error = to_alpaca(exc) or AlpacaError(500, 50010000, "internal server error")
                results.append({"symbol": symbol, "status": error.status,
                                "body": {"code": error.code, "message": error.message, "symbol": symbol}})  # fmt: skip
                continue
            results.append({"symbol": symbol, "status": 200, "order_id": str(order.pk), "body": order_object(order)})
        return Response(results, status=status.HTTP_207_MULTI_STATUS)


class PositionDetailApi(AlpacaView):
    """``GET /v2/positions/{symbol_or_id}``; ``DELETE`` closes it (``qty=`` or ``percentage=``): the closing order."""

    def get(self, request, symbol_or_id: str):
        return Response(_objects([_position(request.user, symbol_or_id)])[0])

    def delete(self, request, symbol_or_id: str):
        market, holding = _position(request.user, symbol_or_id)
        return Response(order_object(position_close(request.user, market, holding, request.query_params)))
