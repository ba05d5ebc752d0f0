"""Public market-data API: markets (rules, status, price, 24 h change), the latest index price,
candles and source health per market. Thin views only."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.aggregate import price_quantum
from pricing.candle_math import INTERVALS
from pricing.market_selectors import market_overview_get, market_overview_list
from pricing.markets import index_symbol_for
from pricing.selectors import DEFAULT_INDEX, candle_list, market_sources_get, price_get_latest

MODES = ("live", "replay", "synthetic")


class IndexPriceField(serializers.DecimalField):
    """A price as the index keeps it (8 decimal places, 9 below 1 USD), as a string."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=38, decimal_places=9, **kwargs)

    def to_representation(self, value):
        price = Decimal(value)
        return format(price.quantize(price_quantum(abs(price))), "f")


class SymbolQuery(serializers.Serializer):
    symbol = serializers.CharField(
        max_length=32, default=DEFAULT_INDEX, help_text="a market (SOL-PERP) or index (SOL-USD) symbol"
    )


def _index_of(request) -> str:
    """The index symbol named by ``?symbol=`` (a market or an index; default SOL-USD); 404 if unknown."""
    params = SymbolQuery(data=request.query_params)
    params.is_valid(raise_exception=True)
    return index_symbol_for(params.validated_data["symbol"])


@extend_schema_serializer(component_name="MarketBase")
class MarketBaseSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    mint = serializers.CharField()
    decimals = serializers.IntegerField()


@extend_schema_serializer(component_name="MarketRules")
class MarketRulesSerializer(serializers.Serializer):
    qty_step = serializers.CharField()
    min_qty = serializers.CharField()
    min_notional = serializers.CharField()
    max_notional = serializers.CharField()
    price_tick = serializers.CharField()
    max_leverage = serializers.CharField(allow_null=True)
    mmr = serializers.CharField(allow_null=True)


@extend_schema_serializer(component_name="Market")
class MarketOutSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    kind = serializers.ChoiceField(choices=["spot", "perp"])
    status = serializers.ChoiceField(choices=["active", "halted", "delisted"])
    base = MarketBaseSerializer()
    quote = serializers.CharField()
    index_symbol = serializers.CharField()
    rules = MarketRulesSerializer()
    price = IndexPriceField(allow_null=True)
    price_mode = serializers.CharField(allow_null=True, help_text="live, replay or synthetic")
    price_computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
    change_24h = serializers.CharField(allow_null=True, help_text="fraction: 0.0125 = +1.25 %")
    price_24h_ago = serializers.CharField(allow_null=True)
    # Perps only (null for spot markets): both prices from the same index record, the funding now.
    index = serializers.CharField(allow_null=True, help_text="perp: its index price (the record's)")
    mark = serializers.CharField(allow_null=True, help_text="perp: the venues' median mark, else the index")
    mark_sources = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="perp: the venues behind the mark ([]: the index)"
    )
    funding_rate = serializers.CharField(
        allow_null=True, help_text="perp: the rate per funding interval charged now (longs pay when positive)"
    )
    funding_basis = serializers.CharField(allow_null=True, help_text="venues (their median) or premium (formula)")
    funding_capped = serializers.BooleanField(allow_null=True, help_text="the rate was clamped to FUNDING_RATE_CAP")
    funding_interval_hours = serializers.IntegerField(allow_null=True)
    next_funding_at = serializers.DateTimeField(allow_null=True)
    last_funding_rate = serializers.CharField(
        allow_null=True, help_text="perp: the rate the last settled funding time charged (null: never funded)"
    )
    last_funding_at = serializers.DateTimeField(allow_null=True, help_text="perp: that funding time")
    last_funding_late = serializers.BooleanField(allow_null=True, help_text="perp: it was settled late")


class MarketListView(APIView):
    """Every listed market: rules, status, latest price (last known, flagged stale, when not fresh)
    and the change over ~24 h."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketList")
    class OutputSerializer(serializers.Serializer):
        markets = MarketOutSerializer(many=True)

    @extend_schema(responses=OutputSerializer, operation_id="markets_list")
    def get(self, request):
        return Response(self.OutputSerializer({"markets": market_overview_list()}).data)


class MarketDetailView(APIView):
    """One market by symbol (delisted ones too); 404 ``market_not_found``."""

    authentication_classes: list = []
    OutputSerializer = MarketOutSerializer

    @extend_schema(responses=MarketOutSerializer, operation_id="markets_get")
    def get(self, request, symbol: str):
        return Response(self.OutputSerializer(market_overview_get(symbol)).data)


class MarketPriceView(APIView):
    """The latest index of a market (``?symbol=``, default SOL-USD); 503 ``price_unavailable`` /
    ``price_stale`` with ``Retry-After``; 404 ``market_not_found``."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketPrice")
    class OutputSerializer(serializers.Serializer):
        symbol = serializers.CharField()
        price = IndexPriceField()
        bid = IndexPriceField(allow_null=True)
        ask = IndexPriceField(allow_null=True)
        sources = serializers.ListField(child=serializers.CharField())
        computed_at = serializers.DateTimeField()
        mode = serializers.ChoiceField(choices=MODES)
        dispersion = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)

    @extend_schema(parameters=[SymbolQuery], responses=OutputSerializer, operation_id="market_price")
    def get(self, request):
        quote = price_get_latest(symbol=_index_of(request))
        return Response(self.OutputSerializer(quote).data)


class MarketCandlesView(APIView):
    """OHLC candles of a market's index: 1m rows rolled up on read to 5m/15m/1h/1d, oldest first."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketCandlesQuery")
    class InputSerializer(SymbolQuery):
        interval = serializers.ChoiceField(choices=list(INTERVALS), default="1m")
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
        end = serializers.DateTimeField(required=False, help_text="exclusive; default now (RFC 3339)")
        mode = serializers.ChoiceField(choices=MODES, required=False, help_text="default: the index's running mode")

    @extend_schema_serializer(component_name="MarketCandle")
    class OutputSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        open = IndexPriceField()
        high = IndexPriceField()
        low = IndexPriceField()
        close = IndexPriceField()
        ticks = serializers.IntegerField()
        sources = serializers.IntegerField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer(many=True), operation_id="market_candles")
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = dict(params.validated_data)
        query["symbol"] = index_symbol_for(query["symbol"])
        candles = candle_list(**query)
        return Response(self.OutputSerializer(candles, many=True).data)


@extend_schema_serializer(component_name="MarketSourceHealth")
class SourceHealthSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    instrument = serializers.CharField(allow_null=True, help_text="this index's id at the source; null: not listed")
    status = serializers.CharField()
    cooldown_until = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_price = serializers.DecimalField(max_digits=30, decimal_places=12, allow_null=True)
    last_quote = serializers.CharField(allow_blank=True)
    last_source_time = serializers.DateTimeField(allow_null=True)
    last_latency_ms = serializers.IntegerField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    successes = serializers.IntegerField()
    failures = serializers.IntegerField()
    stream = serializers.JSONField(
        allow_null=True,
        help_text="the stream service's connection to this source (state: connecting, subscribing, live, down; "
        "last_error: the last failure's reason, reconnects, bad_frames, last_bad_frame, polling: polled meanwhile); "
        "null: not streamed (docs/pricing.md, Streams)",
    )


class MarketSourcesView(APIView):
    """Health of each configured price source and what the last ingest cycle did for a market's index."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketSources")
    class OutputSerializer(serializers.Serializer):
        mode = serializers.CharField()
        symbol = serializers.CharField()
        quorum = serializers.IntegerField()
        last_cycle = serializers.JSONField(allow_null=True)
        sources = SourceHealthSerializer(many=True)

    @extend_schema(parameters=[SymbolQuery], responses=OutputSerializer, operation_id="market_sources")
    def get(self, request):
        return Response(self.OutputSerializer(market_sources_get(symbol=_index_of(request))).data)
