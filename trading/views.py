"""Order and trade endpoints: parse, call one service or selector, serialise."""

from __future__ import annotations

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade, IsAuthenticatedRead
from config.parsers import StrictJSONParser
from trading.errors import IdempotencyKeyMismatch
from trading.fields import NoExtraFieldsMixin, StrictCharField, StrictDecimalField
from trading.models import Fill, Order, OrderStatus, OrderType, Side, Symbol
from trading.selectors import fill_list, order_get, order_list
from trading.services import order_place
from trading.services.orders import REPLAYED_HEADER

CLIENT_ORDER_ID_RE = r"^[A-Za-z0-9_-]{1,64}$"
TradePermission = CanTrade  # read for GET, trade scope for POST
ReadPermission = IsAuthenticatedRead


class NewestFirstCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


@extend_schema_serializer(component_name="Order")
class OrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "symbol",
            "side",
            "type",
            "qty",
            "notional",
            "filled_qty",
            "filled_avg_price",
            "status",
            "created_at",
            "filled_at",
            "fee",
            "slippage_bps",
            "price_source",
            "index_price",
        ]


@extend_schema_serializer(component_name="Trade")
class FillOutputSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField()

    class Meta:
        model = Fill
        fields = ["id", "order_id", "symbol", "side", "qty", "price", "notional", "fee", "liquidity", "created_at"]


class OrdersApi(APIView):
    """``POST /api/v1/orders`` places a market order (filled at once or refused);
    ``GET /api/v1/orders`` lists yours, newest first, cursor-paginated (``limit``, ``cursor``).

    Two operations share one URL (REST), so this one view has ``post`` and ``get``, each
    with its own serializer and one service/selector call.
    """

    permission_classes = [TradePermission]
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="OrderFilter")
    class FilterSerializer(serializers.Serializer):
        side = serializers.ChoiceField(choices=Side.choices, required=False)
        after = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
        client_order_id = serializers.RegexField(CLIENT_ORDER_ID_RE, required=False)

    @extend_schema_serializer(component_name="OrderInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        symbol = serializers.ChoiceField(choices=Symbol.choices)
        side = serializers.ChoiceField(choices=Side.choices)
        type = serializers.ChoiceField(choices=OrderType.choices)
        qty = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        notional = StrictDecimalField(max_decimal_places=6, max_value=Decimal("1000000000000"), required=False)
        client_order_id = StrictCharField(required=False, max_length=64)

        def validate_client_order_id(self, value: str) -> str:
            return _check_client_order_id(value)

        def validate(self, attrs):
            if "qty" in attrs and "notional" in attrs:
                raise serializers.ValidationError(
                    {"qty": [serializers.ErrorDetail("Give qty or notional, not both.", code="qty_notional_exclusive")]}
                )
            if "qty" not in attrs and "notional" not in attrs:
                raise serializers.ValidationError(
                    {"qty": [serializers.ErrorDetail("Give qty (SOL) or notional (USD).", code="qty_or_notional")]}
                )
            header = self.context.get("idempotency_key")
            body = attrs.get("client_order_id")
            if header is not None:
                try:
                    header = _check_client_order_id(header)
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

    @extend_schema(operation_id="orders_create", request=InputSerializer, responses={201: OrderOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        placed = order_place(user=request.user, **serializer.validated_data)
        headers = {REPLAYED_HEADER: "true"} if placed.replayed else {}
        return Response(OrderOutputSerializer(placed.order).data, status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(
        operation_id="orders_list", parameters=[FilterSerializer], responses={200: OrderOutputSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(order_list(user=request.user, **filters.validated_data), request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


def _check_client_order_id(value: str) -> str:
    if not re.fullmatch(CLIENT_ORDER_ID_RE, value):
        raise serializers.ValidationError("1-64 characters of A-Z a-z 0-9 _ -.", code="invalid")
    return value


class OrderDetailApi(APIView):
    """``GET /api/v1/orders/{id}``: one of your orders (404 for anyone else's)."""

    permission_classes = [ReadPermission]

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOutputSerializer})
    def get(self, request, order_id):
        return Response(OrderOutputSerializer(order_get(user=request.user, order_id=order_id)).data)


class TradeListApi(APIView):
    """``GET /api/v1/trades``: your fills, newest first, cursor-paginated."""

    permission_classes = [ReadPermission]

    @extend_schema_serializer(component_name="TradeFilter")
    class FilterSerializer(serializers.Serializer):
        side = serializers.ChoiceField(choices=Side.choices, required=False)
        after = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        order_id = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="trades_list", parameters=[FilterSerializer], responses={200: FillOutputSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(fill_list(user=request.user, **filters.validated_data), request, view=self)
        return paginator.get_paginated_response(FillOutputSerializer(page, many=True).data)
