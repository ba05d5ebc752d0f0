"""Position endpoints (REST): parse, call one service or selector, serialise."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade
from core.pagination import StrictCursorPagination
from core.parsers import StrictJSONParser
from trading.fields import (
    NoExtraFieldsMixin,
    StrictCharField,
    StrictDecimalField,
    client_order_id_check,
    client_order_id_resolve,
)
from trading.idempotency import REPLAYED_HEADER
from trading.position_selectors import mark_prices_for, position_detail_get, position_event_list, position_list
from trading.position_serializers import (  # noqa: F401  (SideField, check_leverage, leverage_field: seed_views)
    EntryOrderSerializer,
    EntryTifField,
    EntryTypeField,
    PositionEventSerializer,
    PositionLiveSerializer,
    PositionOutputSerializer,
    SideField,
    StatusField,
    check_leverage,
    entry_fields_check,
    leverage_field,
    symbol_field,
    trigger_price_field,
)
from trading.services.position_entries import position_entry_place
from trading.services.positions import position_close, position_open, position_tpsl_set

MARGIN_OR_QTY = "Give margin (USD) or qty (the market's base asset)."
TPSL_REQUIRED = "Give take_profit_price, stop_loss_price or both (null clears one)."


class NewestPositionsFirst(StrictCursorPagination):
    ordering = ("-opened_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class PositionsApi(APIView):
    """``POST /api/v1/positions`` opens a leveraged position (idempotent by ``client_order_id``),
    or with ``type: limit`` places a limit entry (``trading.services.position_entries``);
    ``GET /api/v1/positions?status=open|closed|liquidated`` lists yours, newest first, with the mark."""

    permission_classes = [CanTrade]
    pagination_class = NewestPositionsFirst  # documents the {next, previous, results} page in the schema
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="PositionFilter")
    class FilterSerializer(serializers.Serializer):
        status = StatusField(required=False)

    @extend_schema_serializer(component_name="PositionInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        symbol = symbol_field()
        side = SideField()
        margin = StrictDecimalField(max_decimal_places=6, max_value=Decimal("1000000000000"), required=False)
        qty = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        leverage = leverage_field()
        client_order_id = StrictCharField(required=False, max_length=64)
        take_profit_price = trigger_price_field()
        stop_loss_price = trigger_price_field()
        type = EntryTypeField(required=False, help_text="market (default) or limit: a resting limit entry.")
        limit_price = trigger_price_field(help_text="type limit: the entry price (a long's at or below the index).")
        time_in_force = EntryTifField(required=False, help_text="type limit: gtc (default), gtd, ioc or fok.")
        expire_at = serializers.DateTimeField(required=False, help_text="gtd only: when the entry expires (future).")

        def validate_leverage(self, value: Decimal) -> Decimal:
            symbol = self.initial_data.get("symbol") if isinstance(self.initial_data, dict) else None
            return check_leverage(value, symbol if isinstance(symbol, str) else None)

        def validate_client_order_id(self, value: str) -> str:
            return client_order_id_check(value)

        def validate(self, attrs):
            if ("margin" in attrs) == ("qty" in attrs):
                raise serializers.ValidationError(
                    {"margin": [serializers.ErrorDetail(MARGIN_OR_QTY, code="margin_or_qty")]}
                )
            entry_fields_check(attrs)
            return client_order_id_resolve(attrs, self.context.get("idempotency_key"))

    @extend_schema(
        operation_id="positions_create",
        request=InputSerializer,
        responses={
            201: PolymorphicProxySerializer(
                component_name="PositionOrEntry",
                serializers=[PositionOutputSerializer, EntryOrderSerializer],
                resource_type_field_name=None,
            )
        },
    )
    def post(self, request):
        """201: the position the order leaves; for a limit entry that did not fill at once, the entry order."""
        serializer = self.InputSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("type", "market") == "limit":
            placed = position_entry_place(user=request.user, **data)
            headers = {REPLAYED_HEADER: "true"} if placed.replayed else {}
            if placed.position_order is not None:  # filled at once: the position it left
                body = PositionOutputSerializer(placed.position_order.position).data
            else:
                body = EntryOrderSerializer(placed.order).data
            return Response(body, status=status.HTTP_201_CREATED, headers=headers)
        opened = position_open(user=request.user, **data)
        headers = {REPLAYED_HEADER: "true"} if opened.replayed else {}
        return Response(PositionOutputSerializer(opened.position).data, status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(
        operation_id="positions_list", parameters=[FilterSerializer], responses={200: PositionLiveSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestPositionsFirst()
        page = paginator.paginate_queryset(
            position_list(user=request.user, **filters.validated_data), request, view=self
        )
        data = PositionLiveSerializer(page, many=True, context={"prices": mark_prices_for(page or [])}).data
        return paginator.get_paginated_response(data)


class PositionDetailApi(APIView):
    """``GET /api/v1/positions/{id}``: the position, live mark/uPnL/equity/margin ratio, the
    liquidation-price inputs, and its history (open, closes, liquidation). ``PATCH`` ``{"take_profit_price"?,
    "stop_loss_price"?}`` sets (a price) or clears (null) them -> 200 the position. 404 if not
    yours; 409 ``position_not_open`` once it ended."""

    permission_classes = [CanTrade]  # read for GET, trade for PATCH
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="PositionTpslInput")
    class PatchSerializer(NoExtraFieldsMixin, serializers.Serializer):
        take_profit_price = trigger_price_field(allow_null=True)
        stop_loss_price = trigger_price_field(allow_null=True)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError(
                    {"take_profit_price": [serializers.ErrorDetail(TPSL_REQUIRED, code="required")]}
                )
            return attrs

    @extend_schema_serializer(component_name="PositionDetail")
    class OutputSerializer(PositionLiveSerializer):
        class Inputs(serializers.Serializer):
            entry_price = serializers.DecimalField(max_digits=38, decimal_places=9)
            margin = serializers.DecimalField(max_digits=38, decimal_places=9)
            qty = serializers.DecimalField(max_digits=38, decimal_places=9)
            mmr = serializers.DecimalField(max_digits=10, decimal_places=6)
            leverage = serializers.DecimalField(max_digits=8, decimal_places=2)
            bankruptcy_price = serializers.DecimalField(max_digits=38, decimal_places=6)
            liquidation_price = serializers.DecimalField(max_digits=38, decimal_places=9)
            formula = serializers.CharField()

        maintenance_margin = serializers.SerializerMethodField()
        notional = serializers.SerializerMethodField()
        price_status = serializers.SerializerMethodField()
        liquidation_inputs = serializers.SerializerMethodField()
        history = serializers.SerializerMethodField()

        class Meta(PositionLiveSerializer.Meta):
            fields = [
                *PositionLiveSerializer.Meta.fields,
                "maintenance_margin",
                "notional",
                "price_status",
                "liquidation_inputs",
                "history",
            ]

        def get_maintenance_margin(self, obj) -> str | None:
            return self._live(obj)["maintenance_margin"]

        def get_notional(self, obj) -> str | None:
            return self._live(obj)["notional"]

        def get_price_status(self, obj) -> str:
            return self.context["price_status"]

        @extend_schema_field(Inputs)
        def get_liquidation_inputs(self, obj) -> dict:
            return self.Inputs(self.context["inputs"]).data

        @extend_schema_field(PositionEventSerializer(many=True))
        def get_history(self, obj) -> list[dict]:
            return list(PositionEventSerializer(position_event_list(position=obj), many=True).data)

    @extend_schema(operation_id="positions_retrieve", responses={200: OutputSerializer})
    def get(self, request, position_id):
        detail = position_detail_get(user=request.user, position_id=position_id)
        context = {
            "prices": {detail["position"].symbol: detail["live"]["mark_price"]},
            "price_status": detail["live"]["price_status"],
            "inputs": detail["inputs"],
        }
        return Response(self.OutputSerializer(detail["position"], context=context).data)

    @extend_schema(operation_id="positions_tpsl", request=PatchSerializer, responses={200: PositionOutputSerializer})
    def patch(self, request, position_id):
        serializer = self.PatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        position = position_tpsl_set(user=request.user, position_id=position_id, **serializer.validated_data)
        return Response(PositionOutputSerializer(position).data)


class PositionCloseApi(APIView):
    """``POST /api/v1/positions/{id}/close`` ``{"qty"?, "client_order_id"}``: close all or a lot
    (``qty``: at least the minimum, on the step, never leaving dust) at the index against the
    taker; idempotent by ``client_order_id`` (or the ``Idempotency-Key`` header). A position the
    index has crossed is settled as its liquidation (``close.kind`` = ``liquidation``). 409
    ``position_not_open`` once closed or liquidated; 404 for anyone else's position."""

    permission_classes = [CanTrade]
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="PositionCloseInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        qty = StrictDecimalField(max_decimal_places=9, max_value=Decimal("1000000000"), required=False)
        client_order_id = StrictCharField(required=False, max_length=64)

        def validate_client_order_id(self, value: str) -> str:
            return client_order_id_check(value)

        def validate(self, attrs):
            return client_order_id_resolve(attrs, self.context.get("idempotency_key"))

    @extend_schema_serializer(component_name="PositionClose")
    class OutputSerializer(serializers.Serializer):
        position = PositionOutputSerializer()
        close = PositionEventSerializer(source="event")

    @extend_schema(operation_id="positions_close", request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request, position_id):
        serializer = self.InputSerializer(
            data=request.data or {}, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        closed = position_close(user=request.user, position_id=position_id, **serializer.validated_data)
        headers = {REPLAYED_HEADER: "true"} if closed.replayed else {}
        return Response(self.OutputSerializer(closed).data, headers=headers)
