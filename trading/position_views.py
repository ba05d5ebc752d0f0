"""Position endpoints (REST): parse, call one service or selector, serialise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade, IsAuthenticatedRead
from core.pagination import StrictCursorPagination
from core.parsers import StrictJSONParser
from pricing.markets import registry_get
from trading.fields import (
    NoExtraFieldsMixin,
    StrictCharField,
    StrictDecimalField,
    client_order_id_check,
    client_order_id_resolve,
    inline_choice_field,
)
from trading.idempotency import REPLAYED_HEADER
from trading.margin import leverage_breach
from trading.models import Position, PositionEvent, PositionEventKind, PositionSide, PositionStatus
from trading.position_selectors import (
    mark_prices_for,
    position_detail_get,
    position_event_list,
    position_list,
    position_live,
)
from trading.services.positions import position_close, position_open

MAX_LEVERAGE_INPUT = Decimal("1000000")
SideField = inline_choice_field(PositionSide.choices)
StatusField = inline_choice_field(PositionStatus.choices)
MARGIN_OR_QTY = "Give margin (USD) or qty (the market's base asset)."
SYMBOL_MAX_LENGTH = 24  # pricing.Market.symbol


def symbol_field() -> StrictCharField:
    """A perp market's symbol: free text here; the registry answers 404 ``market_not_found`` /
    422 ``market_kind_mismatch`` / ``market_halted`` (``pricing.markets.market_for_trading``)."""
    return StrictCharField(max_length=SYMBOL_MAX_LENGTH)


def check_leverage(value: Decimal, symbol: str | None = None) -> Decimal:
    """The leverage rule (``trading.margin.leverage_breach``) as the field's validation error:
    at least 1, and at most the market's ``max_leverage`` when ``symbol`` is a known perp market
    (an unknown one is the service's 404)."""
    market = registry_get().markets.get(symbol) if symbol else None
    max_leverage = market.max_leverage if market is not None and market.max_leverage is not None else None
    breach = leverage_breach(value, max_leverage if max_leverage is not None else MAX_LEVERAGE_INPUT)
    if breach is not None:
        raise serializers.ValidationError(breach.message, code=breach.code)
    return value


def leverage_field() -> StrictDecimalField:
    return StrictDecimalField(max_decimal_places=2, max_value=MAX_LEVERAGE_INPUT)


@extend_schema_serializer(component_name="Position")
class PositionOutputSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(read_only=True)
    side = SideField(read_only=True)
    status = StatusField(read_only=True)

    class Meta:
        model = Position
        fields = [
            "id",
            "client_order_id",
            "symbol",
            "side",
            "status",
            "entry_price",
            "qty",
            "margin",
            "leverage",
            "liquidation_price",
            "mmr",
            "fee",
            "fees_paid",
            "realized_pnl",
            "exit_price",
            "index_price",
            "slippage_bps",
            "price_source",
            "initial_qty",
            "initial_margin",
            "opened_at",
            "closed_at",
        ]


class _Live(serializers.Serializer):
    mark_price = serializers.DecimalField(max_digits=38, decimal_places=9, allow_null=True)
    unrealized_pnl = serializers.DecimalField(max_digits=38, decimal_places=6, allow_null=True)
    equity = serializers.DecimalField(max_digits=38, decimal_places=6, allow_null=True)
    margin_ratio = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    maintenance_margin = serializers.DecimalField(max_digits=38, decimal_places=6, allow_null=True)
    notional = serializers.DecimalField(max_digits=38, decimal_places=6, allow_null=True)


@extend_schema_serializer(component_name="PositionLive")
class PositionLiveSerializer(PositionOutputSerializer):
    """The position with its mark-to-market at the current index (nulls without a fresh price)."""

    mark_price = serializers.SerializerMethodField()
    unrealized_pnl = serializers.SerializerMethodField()
    equity = serializers.SerializerMethodField()
    margin_ratio = serializers.SerializerMethodField()

    class Meta(PositionOutputSerializer.Meta):
        fields = [*PositionOutputSerializer.Meta.fields, "mark_price", "unrealized_pnl", "equity", "margin_ratio"]

    def _live(self, obj) -> dict:
        cache = cast(dict[str, Any], self.context).setdefault("_live", {})
        if obj.pk not in cache:
            price = cast(dict[str, Any], self.context).get("prices", {}).get(obj.symbol)
            cache[obj.pk] = _Live(position_live(obj, price)).data
        return cache[obj.pk]

    def get_mark_price(self, obj) -> str | None:
        return self._live(obj)["mark_price"]

    def get_unrealized_pnl(self, obj) -> str | None:
        return self._live(obj)["unrealized_pnl"]

    def get_equity(self, obj) -> str | None:
        return self._live(obj)["equity"]

    def get_margin_ratio(self, obj) -> str | None:
        return self._live(obj)["margin_ratio"]


class NewestPositionsFirst(StrictCursorPagination):
    ordering = ("-opened_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class PositionsApi(APIView):
    """``POST /api/v1/positions`` opens a leveraged position (idempotent by ``client_order_id``);
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
            return client_order_id_resolve(attrs, self.context.get("idempotency_key"))

    @extend_schema(operation_id="positions_create", request=InputSerializer, responses={201: PositionOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        opened = position_open(user=request.user, **serializer.validated_data)
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


@extend_schema_serializer(component_name="PositionEvent")
class PositionEventSerializer(serializers.ModelSerializer):
    kind = inline_choice_field(PositionEventKind.choices)(read_only=True)

    class Meta:
        model = PositionEvent
        fields = [
            "kind",
            "qty",
            "price",
            "index_price",
            "margin",
            "fee",
            "realized_pnl",
            "insurance",
            "liquidation_price",
            "price_computed_at",
            "created_at",
        ]


class PositionDetailApi(APIView):
    """``GET /api/v1/positions/{id}``: the position, live mark/uPnL/equity/margin ratio, the
    liquidation-price inputs, and its history (open, closes, liquidation). 404 if not yours."""

    permission_classes = [IsAuthenticatedRead]

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
