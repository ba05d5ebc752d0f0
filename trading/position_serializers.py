"""The position endpoints' shared fields and output serializers (``trading.position_views``,
``trading.seed_views``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from pricing.markets import registry_get
from trading.fields import StrictCharField, StrictDecimalField, inline_choice_field
from trading.margin import leverage_breach
from trading.models import (
    OrderStatus,
    Position,
    PositionEvent,
    PositionEventKind,
    PositionSide,
    PositionStatus,
    TimeInForce,
)
from trading.order_fields import expire_at_check
from trading.position_models import PositionCloseReason
from trading.position_selectors import position_live
from trading.views import OrderOutputSerializer

MAX_LEVERAGE_INPUT = Decimal("1000000")
MAX_PRICE_INPUT = Decimal("1000000000000")
SideField = inline_choice_field(PositionSide.choices)
StatusField = inline_choice_field(PositionStatus.choices)
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


def trigger_price_field(**kwargs: Any) -> StrictDecimalField:
    """A take-profit / stop-loss price: positive, at most 9 decimals (the tick rule is the market's)."""
    return StrictDecimalField(max_decimal_places=9, max_value=MAX_PRICE_INPUT, required=False, **kwargs)


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
            "funding_accrued",
            "exit_price",
            "take_profit_price",
            "stop_loss_price",
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


@extend_schema_serializer(component_name="PositionEvent")
class PositionEventSerializer(serializers.ModelSerializer):
    kind = inline_choice_field(PositionEventKind.choices)(read_only=True)
    reason = inline_choice_field([("", "none"), *PositionCloseReason.choices])(read_only=True)

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
            "reason",
            "created_at",
        ]


# --- limit entries (``POST /api/v1/positions`` with ``type: limit``) --------------------------

EntryTypeField = inline_choice_field([("market", "market"), ("limit", "limit")])
EntryTifField = inline_choice_field(TimeInForce.choices)
ENTRY_ONLY = ("limit_price", "time_in_force", "expire_at")


def entry_fields_check(attrs: dict[str, Any]) -> None:
    """400 with the field and a code: a market order takes none of an entry's fields
    (``not_allowed_for_type``); a limit entry needs ``limit_price`` (``required``), takes no
    take-profit / stop-loss (set them on the position once it is open: ``not_allowed_for_type``),
    and ``expire_at`` goes with ``gtd`` only, in the future."""
    if attrs.get("type", "market") == "market":
        for name in ENTRY_ONLY:
            if name in attrs:
                raise _error(name, "Only a limit entry (type limit) takes this field.", "not_allowed_for_type")
        return
    if "limit_price" not in attrs:
        raise _error("limit_price", "A limit entry needs limit_price.", "required")
    for name in ("take_profit_price", "stop_loss_price"):
        if name in attrs:
            raise _error(name, "A limit entry takes no TP/SL: PATCH the position once it is open.",
                         "not_allowed_for_type")  # fmt: skip
    expire_at_check(attrs, attrs.get("time_in_force", TimeInForce.GTC))


def _error(field: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


@extend_schema_serializer(component_name="PositionEntryOrder")
class EntryOrderSerializer(OrderOutputSerializer):
    """A position's limit entry as an order (resting, or canceled by its time in force), with its leverage."""

    status = inline_choice_field(OrderStatus.choices)(read_only=True)  # not a second enum component

    class Meta(OrderOutputSerializer.Meta):
        fields = [*OrderOutputSerializer.Meta.fields, "leverage"]
