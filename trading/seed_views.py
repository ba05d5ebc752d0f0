"""The seed's routes, kept for its clients (camelCase shapes): ``GET /api/v1/state``,
``POST /api/v1/positions/open``, ``POST /api/v1/positions/close``.

They call the same services as the REST routes. The fill price is always the server's;
``currentPrice`` (+ ``slippage``, percent) is only the client's tolerance: a server fill
outside it is 409 ``slippage_exceeded`` and nothing changes.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade, IsAuthenticatedRead
from core.parsers import StrictJSONParser
from core.timefmt import iso_utc
from portfolio.selectors import portfolio_summary_get
from trading.fields import (
    NoExtraFieldsMixin,
    StrictCharField,
    StrictDecimalField,
    client_order_id_check,
)
from trading.models import Position, PositionStatus
from trading.perp_markets import perp_symbol_for_asset
from trading.position_selectors import mark_prices_for, position_list, position_live
from trading.position_views import SideField, check_leverage, leverage_field
from trading.services.positions import position_close, position_open

PRICE_MAX = Decimal("1000000000")


@extend_schema_serializer(component_name="SeedPosition")
class SeedPositionSerializer(serializers.Serializer):
    positionId = serializers.UUIDField(source="id")  # noqa: N815 - the seed's wire names
    asset = serializers.SerializerMethodField()
    type = serializers.CharField(source="side")
    status = serializers.CharField()
    margin = serializers.DecimalField(max_digits=38, decimal_places=9)
    leverage = serializers.DecimalField(max_digits=8, decimal_places=2)
    entryPrice = serializers.DecimalField(source="entry_price", max_digits=38, decimal_places=9)  # noqa: N815
    quantity = serializers.DecimalField(source="qty", max_digits=38, decimal_places=9)
    liquidationPrice = serializers.DecimalField(source="liquidation_price", max_digits=38, decimal_places=9)  # noqa: N815
    unrealizedPnL = serializers.SerializerMethodField()  # noqa: N815
    timestamp = serializers.SerializerMethodField()

    def get_asset(self, obj) -> str:
        return str(obj.symbol).removesuffix("-PERP")

    def get_unrealizedPnL(self, obj) -> str | None:  # noqa: N802
        price = self.context.get("prices", {}).get(obj.symbol)
        pnl = position_live(obj, price)["unrealized_pnl"]  # None: no price, or not open
        return None if pnl is None else format(pnl, "f")

    def get_timestamp(self, obj) -> str:
        return iso_utc(obj.opened_at)


class SeedStateApi(APIView):
    """``GET /api/v1/state``: ``{"balances": {USD: {free, locked, total}, SOL: ...}, "positions": [open]}``."""

    permission_classes = [IsAuthenticatedRead]

    @extend_schema_serializer(component_name="SeedState")
    class OutputSerializer(serializers.Serializer):
        balances = serializers.DictField(child=serializers.DictField(child=serializers.CharField()))
        positions = SeedPositionSerializer(many=True)

    @extend_schema(operation_id="seed_state", responses={200: OutputSerializer})
    def get(self, request):
        summary = portfolio_summary_get(user=request.user)
        positions: QuerySet[Position] = position_list(user=request.user, status=PositionStatus.OPEN)
        opened = list(positions.order_by("opened_at", "id"))
        balances = {
            asset: {k: format(v, "f") for k, v in amounts.items()} for asset, amounts in summary["balances"].items()
        }
        rows = SeedPositionSerializer(opened, many=True, context={"prices": mark_prices_for(opened)}).data
        return Response({"balances": balances, "positions": rows})


class SeedPositionOpenApi(APIView):
    """``POST /api/v1/positions/open`` ``{"margin", "asset": "SOL", "type": "long"|"short", "leverage",
    "slippage", "currentPrice"}`` (optional ``clientOrderId`` makes it idempotent). ``asset`` names
    the perp market on that token (``BONK`` -> ``BONK-PERP``; none: 404 ``market_not_found``);
    ``currentPrice`` must be on the market's tick (422 ``price_off_tick``)."""

    permission_classes = [CanTrade]
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="SeedPositionOpenInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        margin = StrictDecimalField(max_decimal_places=6, max_value=Decimal("1000000000000"))
        asset = StrictCharField(max_length=16)
        type = SideField()
        leverage = leverage_field()
        slippage = StrictDecimalField(max_decimal_places=4, max_value=Decimal("100"), allow_zero=True)
        currentPrice = StrictDecimalField(max_decimal_places=9, max_value=PRICE_MAX)  # noqa: N815
        clientOrderId = StrictCharField(required=False, max_length=64)  # noqa: N815

        def validate_leverage(self, value: Decimal) -> Decimal:
            asset = self.initial_data.get("asset") if isinstance(self.initial_data, dict) else None
            return check_leverage(value, f"{asset}-PERP" if isinstance(asset, str) else None)

        def validate_clientOrderId(self, value: str) -> str:  # noqa: N802
            return client_order_id_check(value)

    @extend_schema(operation_id="seed_positions_open", request=InputSerializer, responses={200: SeedPositionSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        opened = position_open(
            user=request.user,
            symbol=perp_symbol_for_asset(data["asset"]),
            side=data["type"],
            margin=data["margin"],
            leverage=data["leverage"],
            client_order_id=data.get("clientOrderId"),
            reference_price=data["currentPrice"],
            slippage_pct=data["slippage"],
        )
        position = opened.position
        return Response(SeedPositionSerializer(position, context={"price": position.index_price}).data)


class SeedPositionCloseApi(APIView):
    """``POST /api/v1/positions/close`` ``{"positionId", "currentPrice", "clientOrderId"?}`` ->
    ``{"message", "realizedPnL"}`` (``"Position liquidated"`` when the index had crossed it).

    The tolerance around ``currentPrice`` is ``POSITION_SEED_CLOSE_SLIPPAGE_PCT`` percent.
    """

    permission_classes = [CanTrade]
    parser_classes = [StrictJSONParser]

    @extend_schema_serializer(component_name="SeedPositionCloseInput")
    class InputSerializer(NoExtraFieldsMixin, serializers.Serializer):
        positionId = serializers.UUIDField()  # noqa: N815
        currentPrice = StrictDecimalField(max_decimal_places=9, max_value=PRICE_MAX)  # noqa: N815
        clientOrderId = StrictCharField(required=False, max_length=64)  # noqa: N815

        def validate_clientOrderId(self, value: str) -> str:  # noqa: N802
            return client_order_id_check(value)

    @extend_schema_serializer(component_name="SeedPositionClose")
    class OutputSerializer(serializers.Serializer):
        message = serializers.CharField()
        realizedPnL = serializers.CharField()  # noqa: N815
        fee = serializers.CharField()
        closePrice = serializers.CharField()  # noqa: N815

    @extend_schema(operation_id="seed_positions_close", request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        closed = position_close(
            user=request.user,
            position_id=serializer.validated_data["positionId"],
            client_order_id=serializer.validated_data.get("clientOrderId"),
            reference_price=serializer.validated_data["currentPrice"],
            slippage_pct=settings.POSITION_SEED_CLOSE_SLIPPAGE_PCT,
        )
        event = closed.event
        return Response(
            {
                "message": "Position liquidated" if event.kind == "liquidation" else "Position closed",
                "realizedPnL": format(event.realized_pnl, "f"),
                "fee": format(event.fee, "f"),
                "closePrice": format(event.price, "f"),
            }
        )
