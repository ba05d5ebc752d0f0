"""Public market-data API: latest price, candles, source health. Thin views only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.candle_math import INTERVALS
from pricing.selectors import candle_list, market_sources_get, price_get_latest

MODES = ("live", "replay", "synthetic")


class MarketPriceView(APIView):
    """The latest SOL-USD index; 503 ``price_unavailable`` / ``price_stale`` with ``Retry-After``."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketPrice")
    class OutputSerializer(serializers.Serializer):
        symbol = serializers.CharField()
        price = serializers.DecimalField(max_digits=20, decimal_places=8)
        bid = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)
        ask = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)
        sources = serializers.ListField(child=serializers.CharField())
        computed_at = serializers.DateTimeField()
        mode = serializers.ChoiceField(choices=MODES)
        dispersion = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)

    @extend_schema(responses=OutputSerializer, operation_id="market_price")
    def get(self, request):
        quote = price_get_latest()
        return Response(self.OutputSerializer(quote).data)


class MarketCandlesView(APIView):
    """OHLC candles of the index: 1m rows rolled up on read to 5m/15m/1h/1d, oldest first."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketCandlesQuery")
    class InputSerializer(serializers.Serializer):
        interval = serializers.ChoiceField(choices=list(INTERVALS), default="1m")
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
        end = serializers.DateTimeField(required=False, help_text="exclusive; default now (RFC 3339)")
        mode = serializers.ChoiceField(choices=MODES, required=False, help_text="default: the running price mode")

    @extend_schema_serializer(component_name="MarketCandle")
    class OutputSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        open = serializers.DecimalField(max_digits=20, decimal_places=8)
        high = serializers.DecimalField(max_digits=20, decimal_places=8)
        low = serializers.DecimalField(max_digits=20, decimal_places=8)
        close = serializers.DecimalField(max_digits=20, decimal_places=8)
        ticks = serializers.IntegerField()
        sources = serializers.IntegerField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer(many=True), operation_id="market_candles")
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        candles = candle_list(**params.validated_data)
        return Response(self.OutputSerializer(candles, many=True).data)


@extend_schema_serializer(component_name="MarketSourceHealth")
class SourceHealthSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()
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


class MarketSourcesView(APIView):
    """Health of each configured price source and what the last ingest cycle did."""

    authentication_classes: list = []

    @extend_schema_serializer(component_name="MarketSources")
    class OutputSerializer(serializers.Serializer):
        mode = serializers.CharField()
        quorum = serializers.IntegerField()
        last_cycle = serializers.JSONField(allow_null=True)
        sources = SourceHealthSerializer(many=True)

    @extend_schema(responses=OutputSerializer, operation_id="market_sources")
    def get(self, request):
        return Response(self.OutputSerializer(market_sources_get()).data)
