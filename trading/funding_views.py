"""``GET /api/v1/funding``: the signed-in user's funding payments (REST: parse, select, serialise)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.permissions import IsAuthenticatedRead
from core.pagination import StrictCursorPagination
from trading.fields import StrictCharField
from trading.funding_selectors import funding_payment_list
from trading.model_base import SYMBOL_MAX_LENGTH
from trading.models import FundingPayment
from trading.position_serializers import SideField


class NewestFundingFirst(StrictCursorPagination):
    ordering = ("-funding_time", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class FundingPaymentSerializer(serializers.ModelSerializer):
    position_id = serializers.UUIDField(read_only=True)
    side = SideField(read_only=True)  # the positions' inline enum (a model choice field collides with Side's)
    ledger_txn_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = FundingPayment
        fields = [
            "id", "position_id", "symbol", "funding_time", "side", "qty", "mark", "rate", "amount", "insurance",
            "margin_after", "ledger_txn_id", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class FundingListApi(APIView):
    """Your funding payments, newest funding time first, cursor-paginated; ``amount`` is signed
    (negative = you paid). ``?symbol=SOL-PERP`` keeps one perp market (404 ``market_not_found``
    for an unknown symbol, 422 ``market_kind_mismatch`` for a spot one), ``?position_id=`` one
    position, ``?after=`` / ``?until=`` (RFC 3339) the funding times after / up to them."""

    permission_classes = [IsAuthenticatedRead]
    pagination_class = NewestFundingFirst  # documents the {next, previous, results} page in the schema

    @extend_schema_serializer(component_name="FundingFilter")
    class FilterSerializer(serializers.Serializer):
        symbol = StrictCharField(required=False, max_length=SYMBOL_MAX_LENGTH)
        position_id = serializers.UUIDField(required=False)
        after = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="funding_list", parameters=[FilterSerializer], responses={200: FundingPaymentSerializer(many=True)}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFundingFirst()
        page = paginator.paginate_queryset(
            funding_payment_list(user=request.user, **filters.validated_data), request, view=self
        )
        return paginator.get_paginated_response(FundingPaymentSerializer(page, many=True).data)
