"""``/v2/orders``: place, list, get (by id or client order id), cancel one or all, replace.

Each view parses (``trading.alpaca.parse``), calls the service ``/api/v1`` calls, and answers
Alpaca's order (``trading.alpaca.objects``). A ``client_order_id`` already used answers 422
``client_order_id must be unique`` as Alpaca does (our services would replay the stored order).
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404
from rest_framework import status
from rest_framework.response import Response

from trading.alpaca.assets import spot_markets
from trading.alpaca.base import AlpacaView
from trading.alpaca.errors import UNIQUE_CLIENT_ORDER_ID, AlpacaError, invalid
from trading.alpaca.objects import order_object
from trading.alpaca.parse import (
    OrderInput,
    direction_of,
    limit_of,
    moment_of,
    order_input,
    replace_input,
    symbols_of,
)
from trading.models import FINAL_STATUSES, Order, OrderStatus
from trading.selectors import order_get, order_list
from trading.services import PlacedOrder, order_place
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel, order_cancel_all
from trading.services.order_replace import order_replace
from trading.services.stop_orders import stop_order_place

STATUS_FILTERS: dict[str, list[str] | None] = {"open": [OrderStatus.NEW], "closed": list(FINAL_STATUSES), "all": None}


def order_submit(user, order: OrderInput) -> PlacedOrder:
    """Place ``order`` through the service of its type (the same ones as ``POST /api/v1/orders``)."""
    common = {"user": user, "client_order_id": order.client_order_id, "symbol": order.market.symbol,
              "side": order.side}  # fmt: skip
    if order.type == "market":
        return order_place(**common, type="market", qty=order.qty, notional=order.notional)
    qty, limit_price, stop_price = order.qty, order.limit_price, order.stop_price
    if qty is None or limit_price is None:
        raise invalid("qty and limit_price are required")
    if order.type == "limit":
        return limit_order_place(**common, qty=qty, limit_price=limit_price, time_in_force=order.time_in_force)
    if stop_price is None:
        raise invalid("stop_price is required")
    return stop_order_place(**common, type=order.type, qty=qty, stop_price=stop_price, limit_price=limit_price,
                            time_in_force=order.time_in_force)  # fmt: skip


def fresh(placed: PlacedOrder) -> Order:
    """The order just placed; a stored one under the same client order id is Alpaca's 422."""
    if placed.replayed:
        raise invalid(UNIQUE_CLIENT_ORDER_ID)
    return placed.order


def _not_found() -> AlpacaError:
    return AlpacaError(404, 40410000, "order is not found.")


def _order_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise _not_found() from None


def spot_symbols() -> list[str]:
    """Our spot markets' symbols: perp orders (limit entries of positions) are not Alpaca's."""
    return [market.symbol for market in spot_markets(include_delisted=True)]


def _owned(user, raw: str) -> Order:
    try:
        order = order_get(user=user, order_id=_order_id(raw))
    except Http404:
        raise _not_found() from None
    if order.symbol not in spot_symbols():
        raise _not_found()
    return order


class OrdersApi(AlpacaView):
    """``POST /v2/orders``, ``GET /v2/orders`` (``status`` open|closed|all, ``limit``, ``after``,
    ``until``, ``direction``, ``side``, ``symbols``; default open, 50, newest first),
    ``DELETE /v2/orders`` (207: each open order canceled, ``[]`` when none)."""

    def post(self, request):
        order = fresh(order_submit(request.user, order_input(self.body(request))))
        return Response(order_object(order), status=status.HTTP_200_OK)

    def get(self, request):
        params = request.query_params
        wanted = (params.get("status") or "open").lower()
        if wanted not in STATUS_FILTERS:
            raise invalid("invalid status")
        side = params.get("side")
        if side not in (None, "", "buy", "sell"):
            raise invalid("invalid side")
        orders = order_list(
            user=request.user, statuses=STATUS_FILTERS[wanted], side=side or None,
            symbols=symbols_of(params) or spot_symbols(),
            after=moment_of(params, "after"), until=moment_of(params, "until"),
        ).select_related("replaced_by")  # fmt: skip
        ordering = ("created_at", "id") if direction_of(params) == "asc" else ("-created_at", "-id")
        page = orders.order_by(*ordering)[: limit_of(params, default=50, most=500)]
        return Response([order_object(order) for order in page])

    def delete(self, request):
        canceled = order_cancel_all(user=request.user, symbols=spot_symbols())
        body = [{"id": str(order.pk), "status": 200, "body": order_object(order)} for order in canceled]
        return Response(body, status=status.HTTP_207_MULTI_STATUS)


class OrderDetailApi(AlpacaView):
    """``GET`` / ``DELETE`` (204) / ``PATCH`` (replace: the new order) ``/v2/orders/{id}``."""

    def get(self, request, order_id: str):
        return Response(order_object(_owned(request.user, order_id)))

    def delete(self, request, order_id: str):
        order_cancel(user=request.user, order_id=_order_id(order_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def patch(self, request, order_id: str):
        old = _owned(request.user, order_id)
        changes = replace_input(self.body(request), time_in_force=old.time_in_force)
        new = fresh(order_replace(user=request.user, order_id=old.pk, **changes))
        return Response(order_object(new))


class OrderByClientIdApi(AlpacaView):
    """``GET /v2/orders:by_client_order_id?client_order_id=``."""

    def get(self, request):
        wanted = request.query_params.get("client_order_id")
        if not wanted:
            raise invalid("client_order_id is required")
        order = order_list(user=request.user, client_order_id=wanted, symbols=spot_symbols()).first()
        if order is None:
            raise _not_found()
        return Response(order_object(order))
