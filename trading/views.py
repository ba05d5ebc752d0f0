"""Order and trade endpoints: parse, call one service or selector, serialise."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade, IsAuthenticatedRead
from core.dbthreads import on_db_threads
from core.pagination import StrictCursorPagination
from core.parsers import StrictJSONParser
from trading.fields import (
    CLIENT_ORDER_ID_PATTERN,
    NoExtraFieldsMixin,
    StrictCharField,
    StrictDecimalField,
    client_order_id_check,
    client_order_id_resolve,
)
from trading.idempotency import REPLAYED_HEADER
from trading.models import STOP_TYPES, Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from trading.order_fields import data_for_limit, data_for_stop, expire_at_check, order_fields_check
from trading.selectors import fill_list, order_get, order_list
from trading.services import order_place
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel, order_cancel_all
from trading.services.order_replace import order_replace
from trading.services.stop_orders import stop_order_place

TradePermission = CanTrade  # read for GET, trade scope for POST
ReadPermission = IsAuthenticatedRead


class NewestFirstCursor(StrictCursorPagination):
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
            "limit_price",
            "stop_price",
            "triggered_at",
            "time_in_force",
            "expire_at",
            "post_only",
            "held_asset",
            "held",
            "closed_at",
            "replaces",
            "leverage",
        ]


@extend_schema_serializer(component_name="Trade")
class FillOutputSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField()

    class Meta:
        model = Fill
        fields = ["id", "order_id", "symbol", "side", "qty", "price", "notional", "fee", "liquidity", "created_at"]


class OrdersApi(APIView):
    """``POST /api/v1/orders`` places a market order (filled at once or refused), a limit order
    (filled at once, canceled by its time in force, or resting with its funds held) or a stop /
    stop-limit (resting with its worst case held until the index crosses its stop);
    ``GET /api/v1/orders`` lists yours, newest first, cursor-paginated (``limit``, ``cursor``);
    ``DELETE /api/v1/orders`` cancels every open one (``?symbol=`` to one market's).

    Two operations share one URL (REST), so this one view has ``post`` and ``get``, each
    with its own serializer and one service/selector call.
    """

    permission_classes = [TradePermission]
    pagination_class = NewestFirstCursor  # documents the {next, previous, results} page in the schema
    parser_classes = [StrictJSONParser]

    @classmethod
    def as_view(cls, **initkwargs):
        """Served on long-lived database threads under ASGI (``core.dbthreads``)."""
        return on_db_threads(super().as_view(**initkwargs))

    @extend_schema_serializer(component_name="OrderFilter")
    class FilterSerializer(serializers.Serializer):
        side = serializers.ChoiceField(choices=Side.choices, required=False)
        after = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
        client_order_id = serializers.RegexField(CLIENT_ORDER_ID_PATTERN, required=False)
        symbol = serializers.CharField(required=False, max_length=24)

    @extend_schema_serializer(component_name="OrderInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        symbol = StrictCharField(max_length=24, help_text="A spot market of GET /api/v1/markets (SOL-USD, BONK-USD…).")
        side = serializers.ChoiceField(choices=Side.choices)
        type = serializers.ChoiceField(choices=OrderType.choices)
        qty = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        notional = StrictDecimalField(max_decimal_places=6, max_value=Decimal("1000000000000"), required=False)
        limit_price = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        stop_price = StrictDecimalField(
            max_decimal_places=9, max_value=Decimal("1000000000"), required=False,
            help_text="stop / stop_limit: the index price that triggers it (a buy's above the index, a sell's below).",
        )  # fmt: skip
        time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, required=False)
        expire_at = serializers.DateTimeField(required=False, help_text="gtd only: when the order expires (future).")
        post_only = serializers.BooleanField(required=False, help_text="limit only: refused if it would fill now.")
        client_order_id = StrictCharField(required=False, max_length=64)

        def validate_client_order_id(self, value: str) -> str:
            return client_order_id_check(value)

        def validate(self, attrs):
            order_fields_check(attrs)
            if "qty" in attrs and "notional" in attrs:
                raise serializers.ValidationError(
                    {"qty": [serializers.ErrorDetail("Give qty or notional, not both.", code="qty_notional_exclusive")]}
                )
            if "qty" not in attrs and "notional" not in attrs:
                raise serializers.ValidationError(
                    {"qty": [serializers.ErrorDetail("Give qty (SOL) or notional (USD).", code="qty_or_notional")]}
                )
            return client_order_id_resolve(attrs, self.context.get("idempotency_key"))

    @extend_schema(operation_id="orders_create", request=InputSerializer, responses={201: OrderOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["type"] == OrderType.LIMIT:
            placed = limit_order_place(user=request.user, **data_for_limit(data))
        elif data["type"] in STOP_TYPES:
            placed = stop_order_place(user=request.user, **data_for_stop(data))
        else:
            placed = order_place(user=request.user, **data)
        headers = {REPLAYED_HEADER: "true"} if placed.replayed else {}
        return Response(OrderOutputSerializer(placed.order).data, status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema_serializer(component_name="OrderCancelAllFilter")
    class CancelAllSerializer(serializers.Serializer):
        symbol = serializers.CharField(required=False, max_length=24)

    @extend_schema_serializer(component_name="OrdersCanceled")
    class CanceledSerializer(serializers.Serializer):
        canceled = OrderOutputSerializer(many=True)

    @extend_schema(
        operation_id="orders_cancel_all", parameters=[CancelAllSerializer], responses={200: CanceledSerializer}
    )
    def delete(self, request):
        filters = self.CancelAllSerializer(data=request.query_params.dict())  # "symbol=" is blank, not absent
        filters.is_valid(raise_exception=True)
        canceled = order_cancel_all(user=request.user, **filters.validated_data)
        return Response(self.CanceledSerializer({"canceled": canceled}).data)

    @extend_schema(
        operation_id="orders_list", parameters=[FilterSerializer], responses={200: OrderOutputSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(order_list(user=request.user, **filters.validated_data), request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


class OrderDetailApi(APIView):
    """``GET /api/v1/orders/{id}``: one of your orders (404 for anyone else's);
    ``DELETE /api/v1/orders/{id}`` cancels it while it rests (409 ``not_cancelable`` once final);
    ``PATCH /api/v1/orders/{id}`` replaces it (``qty`` / ``limit_price`` / ``stop_price`` /
    ``expire_at``; 201 the new order, the old one ``replaced``; 409 ``not_replaceable`` once final)."""

    permission_classes = [TradePermission]
    parser_classes = [StrictJSONParser]

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOutputSerializer})
    def get(self, request, order_id):
        return Response(OrderOutputSerializer(order_get(user=request.user, order_id=order_id)).data)

    @extend_schema(operation_id="orders_cancel", responses={200: OrderOutputSerializer})
    def delete(self, request, order_id):
        return Response(OrderOutputSerializer(order_cancel(user=request.user, order_id=order_id)).data)

    @extend_schema_serializer(component_name="OrderReplaceInput")
    class ReplaceSerializer(NoExtraFieldsMixin, serializers.Serializer):
        qty = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        limit_price = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        stop_price = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        expire_at = serializers.DateTimeField(required=False)
        client_order_id = StrictCharField(required=False, max_length=64, help_text="The NEW order's id.")

        def validate_client_order_id(self, value: str) -> str:
            return client_order_id_check(value)

        def validate(self, attrs):
            if not {"qty", "limit_price", "stop_price", "expire_at"} & set(attrs):
                raise serializers.ValidationError(
                    {
                        "non_field_errors": [
                            serializers.ErrorDetail("Change at least one field.", code="nothing_to_replace")
                        ]
                    }
                )
            if "expire_at" in attrs:
                expire_at_check(attrs, TimeInForce.GTD)
            return client_order_id_resolve(attrs, self.context.get("idempotency_key"))

    @extend_schema(operation_id="orders_replace", request=ReplaceSerializer, responses={201: OrderOutputSerializer})
    def patch(self, request, order_id):
        serializer = self.ReplaceSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        placed = order_replace(user=request.user, order_id=order_id, **serializer.validated_data)
        headers = {REPLAYED_HEADER: "true"} if placed.replayed else {}
        return Response(OrderOutputSerializer(placed.order).data, status=status.HTTP_201_CREATED, headers=headers)


class TradeListApi(APIView):
    """``GET /api/v1/trades``: your fills, newest first, cursor-paginated."""

    permission_classes = [ReadPermission]
    pagination_class = NewestFirstCursor  # documents the {next, previous, results} page in the schema

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
