"""Portfolio endpoints: parse, call one service or selector, serialise."""

from __future__ import annotations

import csv
from decimal import Decimal

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanTrade, IsAuthenticatedRead
from core.csv_export import spreadsheet_safe
from core.money import dec_str
from core.pagination import StrictCursorPagination
from core.renderers import BrowsableAPIRendererStrict, StrictJSONRenderer
from portfolio import leaderboard, selectors
from portfolio.models import LedgerReason
from portfolio.services.accounts import account_reset_at_mark

ReadPermission = IsAuthenticatedRead
TradePermission = CanTrade  # trade scope for POST


class Money(serializers.CharField):
    """Decimals travel as plain strings (never ``0E-9``)."""

    def to_representation(self, value):
        return dec_str(value) if isinstance(value, Decimal) else str(value)


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


class _Amounts(serializers.Serializer):
    free = Money()
    locked = Money()
    total = Money()


class PortfolioApi(APIView):
    """``GET /api/v1/portfolio``: balances per asset, every spot book at its own index, open
    positions, equity, PnL, fees, return; ``valuation.stale_symbols`` names the indexes valued at
    their last (not fresh) price."""

    permission_classes = [ReadPermission]

    @extend_schema_serializer(component_name="Portfolio")
    class OutputSerializer(serializers.Serializer):
        class Sol(serializers.Serializer):
            qty = Money()
            avg_cost = Money(allow_null=True)
            cost_basis = Money()
            market_value = Money(allow_null=True)
            unrealized_pnl = Money(allow_null=True)

        class Holding(serializers.Serializer):
            """One spot asset held (or traded this epoch), valued at its market's index."""

            asset = serializers.CharField()
            market = serializers.CharField()
            qty = Money()
            free = Money()
            locked = Money()
            price = Money(allow_null=True)
            value = Money(allow_null=True)
            avg_cost = Money(allow_null=True)
            cost_basis = Money()
            unrealized_pnl = Money(allow_null=True)
            realized_pnl = Money()
            fees_paid = Money()
            stale = serializers.BooleanField()

        class Valuation(serializers.Serializer):
            stale = serializers.BooleanField()
            stale_symbols = serializers.ListField(child=serializers.CharField())

        class Positions(serializers.Serializer):
            """Open leveraged positions: margin locked, USD free to open more, mark-to-market."""

            open_count = serializers.IntegerField()
            symbols = serializers.ListField(child=serializers.CharField())
            margin_used = Money()
            free_margin = Money()
            notional = Money(allow_null=True)
            unrealized_pnl = Money(allow_null=True)
            equity = Money(allow_null=True)

        epoch = serializers.IntegerField()
        epoch_started_at = serializers.CharField()
        balances = serializers.DictField(child=_Amounts(), help_text="Per asset: USD, SOL and every token held.")
        price = Money(allow_null=True, help_text="SOL's index (see holdings for every asset's).")
        price_status = serializers.CharField()
        sol = Sol()
        holdings = Holding(many=True)
        positions = Positions()
        cash = Money()
        equity = Money(allow_null=True)
        valuation = Valuation()
        starting_equity = Money()
        realized_pnl = Money()
        fees_paid = Money()
        volume = Money()
        trade_count = serializers.IntegerField()
        # "return" is a keyword in Python; the field is declared below.

    OutputSerializer._declared_fields["return"] = Money(allow_null=True)

    @extend_schema(operation_id="portfolio_retrieve", responses={200: OutputSerializer})
    def get(self, request):
        return Response(self.OutputSerializer(selectors.portfolio_summary_get(user=request.user)).data)


class PortfolioHistoryApi(APIView):
    """``GET /api/v1/portfolio/history?period=1D|1W|1M|3M|1A|all&timeframe=1Min|5Min|15Min|1H|1D&epoch=``."""

    permission_classes = [ReadPermission]

    @extend_schema_serializer(component_name="PortfolioHistoryFilter")
    class FilterSerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=list(selectors.PERIODS), default="1D")
        timeframe = serializers.ChoiceField(choices=list(selectors.TIMEFRAMES), default="5Min")
        epoch = serializers.IntegerField(min_value=1, required=False)

    @extend_schema_serializer(component_name="PortfolioHistory")
    class OutputSerializer(serializers.Serializer):
        epoch = serializers.IntegerField()
        period = serializers.CharField()
        timeframe = serializers.CharField()
        base_value = Money()
        timestamp = serializers.ListField(child=serializers.CharField())
        equity = serializers.ListField(child=Money())
        profit_loss = serializers.ListField(child=Money())
        profit_loss_pct = serializers.ListField(child=Money(allow_null=True))

    @extend_schema(operation_id="portfolio_history", parameters=[FilterSerializer], responses={200: OutputSerializer})
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        history = selectors.portfolio_history_get(user=request.user, **filters.validated_data)
        return Response(self.OutputSerializer(history).data)


class AccountResetApi(APIView):
    """``POST /api/v1/account/reset``: a new epoch at the starting balances (history and API keys kept).
    409 ``reset_blocked`` while anything is locked; 503 ``price_unavailable`` when SOL held needs a price."""

    permission_classes = [TradePermission]

    @extend_schema_serializer(component_name="AccountReset")
    class OutputSerializer(serializers.Serializer):
        epoch = serializers.IntegerField(source="number")
        started_at = serializers.DateTimeField()
        starting_equity = Money()

    @extend_schema(operation_id="account_reset", request=None, responses={200: OutputSerializer})
    def post(self, request):
        epoch = account_reset_at_mark(user=request.user)
        return Response(self.OutputSerializer(epoch).data)


class LedgerCursor(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


CSV_COLUMNS = [
    "id",
    "transaction_id",
    "created_at",
    "reason",
    "asset",
    "bucket",
    "amount",
    "reference_type",
    "reference_id",
    "memo",
]


class LedgerApi(APIView):
    """``GET /api/v1/ledger``: your entries with reason and reference; ``?format=csv`` exports them all."""

    permission_classes = [ReadPermission]
    pagination_class = LedgerCursor  # documents the {next, previous, results} page in the schema
    renderer_classes = [StrictJSONRenderer, BrowsableAPIRendererStrict, CSVRenderer]

    def handle_exception(self, exc):
        """Errors are the JSON {code, message, extra} even when ``?format=csv`` was asked for."""
        self.request.accepted_renderer, self.request.accepted_media_type = StrictJSONRenderer(), "application/json"
        return super().handle_exception(exc)

    @extend_schema_serializer(component_name="LedgerEntryFilter")
    class FilterSerializer(serializers.Serializer):
        asset = serializers.CharField(required=False, max_length=16, help_text="USD or a token code (SOL, BONK…).")
        reason = serializers.ChoiceField(choices=LedgerReason.choices, required=False)
        after = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema_serializer(component_name="LedgerEntry")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        transaction_id = serializers.IntegerField(source="txn_id")
        created_at = serializers.DateTimeField()
        reason = serializers.CharField(source="txn.reason")
        asset = serializers.CharField()
        bucket = serializers.CharField()
        amount = Money()
        reference_type = serializers.CharField(source="txn.reference_type")
        reference_id = serializers.CharField(source="txn.reference_id")
        memo = serializers.CharField(source="txn.memo")

    @extend_schema(
        operation_id="ledger_list", parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data={k: v for k, v in request.query_params.items() if k != "format"})
        filters.is_valid(raise_exception=True)
        entries = selectors.ledger_entry_list(user=request.user, **filters.validated_data)
        if request.accepted_renderer.format == "csv":
            return self._csv(entries.order_by("created_at", "id"))
        paginator = LedgerCursor()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    def _csv(self, entries):
        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for item in entries.iterator(chunk_size=2000):
                data = self.OutputSerializer(item).data
                yield writer.writerow([spreadsheet_safe(data[c]) for c in CSV_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="ledger.csv"'
        return response


class LeaderboardApi(APIView):
    """``GET /api/v1/leaderboard?period=all|24h|7d&metric=equity|return``: public, addresses shortened."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema_serializer(component_name="LeaderboardRowFilter")
    class FilterSerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=list(leaderboard.PERIODS), default="all")
        metric = serializers.ChoiceField(choices=list(leaderboard.METRICS), default="equity")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=100)

    @extend_schema_serializer(component_name="LeaderboardRow")
    class OutputSerializer(serializers.Serializer):
        rank = serializers.IntegerField()
        trader = serializers.CharField()
        equity = Money()
        pnl = Money()
        resets = serializers.IntegerField(help_text="How many times the trader reset their account.")

    OutputSerializer._declared_fields["return"] = Money()

    @extend_schema(
        operation_id="leaderboard_list",
        parameters=[FilterSerializer],
        responses={
            200: inline_serializer(
                "Leaderboard",
                {
                    "period": serializers.CharField(),
                    "metric": serializers.CharField(),
                    "limit": serializers.IntegerField(),
                    "results": OutputSerializer(many=True),
                },
            )
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = leaderboard.leaderboard_list(**filters.validated_data)
        return Response({**filters.validated_data, "results": self.OutputSerializer(rows, many=True).data})
