"""Ops admin for orders and fills: read-only (money moves only through services); open orders'
holds per trader, and canceling open orders as ops (``order_cancel_by_ops``)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum

from portfolio.admin import ReadOnlyAdmin
from portfolio.models import Balance
from trading.models import Fill, Order, OrderRejection, OrderStatus


class FillInline(admin.TabularInline):
    model = Fill
    extra = 0
    can_delete = False
    readonly_fields = ("qty", "price", "notional", "fee", "ledger_txn", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class HoldFilter(admin.SimpleListFilter):
    """Orders that hold funds now (open, with a hold) or not."""

    title = "holds funds"
    parameter_name = "holding"

    def lookups(self, request, model_admin):
        return [("yes", "holding (open)"), ("no", "holding nothing")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=OrderStatus.NEW, held__gt=0)
        if self.value() == "no":
            return queryset.exclude(status=OrderStatus.NEW, held__gt=0)
        return queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders, and what open ones hold: each row shows the order's hold and the trader's total held
    in that asset by open orders; the changelist starts with the holds per trader and asset of the
    orders listed (filter status = new for open ones). The "cancel (ops)" action cancels open orders
    through ``order_cancel_by_ops`` (hold released in the ledger, ``order_canceled`` to the trader)."""

    list_display = (
        "id",
        "wallet",
        "symbol",
        "side",
        "type",
        "qty",
        "limit_price",
        "stop_price",
        "time_in_force",
        "status",
        "held_display",
        "user_held_display",
        "filled_avg_price",
        "created_at",
    )
    list_filter = ("status", "symbol", "type", "side", HoldFilter)
    list_select_related = ("user",)
    search_fields = ("id", "client_order_id", "user__address")
    inlines = [FillInline]
    actions = ["cancel_by_ops"]
    holds_shown = 50  # rows of the holds-per-trader summary

    def get_queryset(self, request):
        return order_admin_queryset(super().get_queryset(request))

    @admin.display(description="wallet", ordering="user__address")
    def wallet(self, obj: Order) -> str:
        return str(obj.user)

    @admin.display(description="held", ordering="held")
    def held_display(self, obj: Order) -> str:
        return f"{obj.held} {obj.held_asset}" if obj.held else "-"

    @admin.display(description="trader's held (asset)", ordering="user_held")
    def user_held_display(self, obj: Order) -> str:
        return f"{getattr(obj, 'user_held', None)} {obj.held_asset}" if obj.held else "-"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["holds"] = holds_per_trader(context["cl"].queryset, limit=self.holds_shown)
            context["holds_limit"] = self.holds_shown
        return response

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("trading.change_order")

    @admin.action(description="Cancel selected open orders (ops)", permissions=["cancel"])
    def cancel_by_ops(self, request, queryset):
        """Cancel each selected open order as ops (``order_cancel_by_ops``): its hold released in a
        ledger transaction, the trader told (``order_canceled``). Orders already final are skipped."""
        from core.errors import DomainError
        from trading.services.order_end import order_cancel_by_ops

        canceled = skipped = 0
        for order_id in queryset.order_by("created_at").values_list("id", flat=True):
            try:
                order = order_cancel_by_ops(order_id=order_id)
            except DomainError as error:
                self.message_user(request, f"{order_id}: {error.code}: {error.message}", messages.ERROR)
                continue
            if order is None:
                skipped += 1
            else:
                canceled += 1
        self.message_user(request, f"Canceled {canceled} open order(s); {skipped} already final.", messages.INFO)


def order_admin_queryset(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with ``user_held``: what the order's trader holds in its ``held_asset`` across open orders."""
    held = (
        Order.objects.filter(user=OuterRef("user"), held_asset=OuterRef("held_asset"), status=OrderStatus.NEW)
        .order_by()
        .values("user")
        .annotate(total=Sum("held"))
        .values("total")
    )
    return queryset.annotate(user_held=Subquery(held))


def holds_per_trader(queryset: QuerySet[Order], *, limit: int) -> list[dict[str, Any]]:
    """Per trader and asset, over the open orders of ``queryset``: how many, what they hold, and the
    trader's locked balance of that asset (locked = open positions' margin + these holds), the
    largest holds first."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in queryset.filter(status=OrderStatus.NEW, held__gt=0)
        .order_by()
        .values("user_id", "user__address", "user__username", "held_asset")
        .annotate(orders=Count("id"), held=Sum("held"))
        .order_by("-held", "user_id")[:limit]
    ]
    locked = {
        (row["account__user_id"], row["asset"]): row["locked"]
        for row in Balance.objects.filter(
            account__user_id__in={r["user_id"] for r in rows}, asset__in={r["held_asset"] for r in rows}
        )
        .values("account__user_id", "asset")
        .annotate(locked=Sum("locked"))
    }
    for row in rows:
        row["wallet"] = row["user__address"] or row["user__username"]
        row["locked"] = locked.get((row["user_id"], row["held_asset"]))
    return rows


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "user", "side", "qty", "price", "fee", "created_at")
    list_filter = ("side",)


@admin.register(OrderRejection)
class OrderRejectionAdmin(ReadOnlyAdmin):
    list_display = ("user", "client_order_id", "code", "status", "created_at")
    list_filter = ("code",)


# --- positions -------------------------------------------------------------------------------

from trading.models import Position, PositionEvent, PositionRejection  # noqa: E402


class PositionEventInline(admin.TabularInline):
    model = PositionEvent
    extra = 0
    can_delete = False
    readonly_fields = (
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
        "ledger_txn",
        "created_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    """Positions with their liquidation inputs: E, M, q, mmr -> liquidation price."""

    list_display = (
        "id",
        "user",
        "side",
        "status",
        "qty",
        "entry_price",
        "margin",
        "leverage",
        "mmr",
        "liquidation_price",
        "realized_pnl",
        "funding_accrued",
        "opened_at",
        "closed_at",
    )
    list_filter = ("status", "side")
    search_fields = ("id", "client_order_id", "user__address")
    readonly_fields = ("liquidation_formula",)
    inlines = [PositionEventInline]
    actions = ["close_at_market"]

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("trading.change_position")

    @admin.action(description="Close selected positions at market (ops)", permissions=["close"])
    def close_at_market(self, request, queryset):
        """The trader's own close, made by ops: same service, same price and fee rules; a position
        the index has crossed is settled as its liquidation. Recorded with the operator."""
        from core.errors import DomainError
        from trading.services.positions import position_close

        for position in queryset.filter(status="open").select_related("user"):
            try:
                closed = position_close(user=position.user, position_id=position.pk, created_by=request.user)
            except DomainError as error:
                self.message_user(request, f"{position.pk}: {error.code}: {error.message}", messages.ERROR)
                continue
            self.message_user(request, f"{position.pk}: {closed.event.kind} at {closed.event.price}", messages.INFO)

    @admin.display(description="liquidation formula")
    def liquidation_formula(self, obj: Position) -> str:
        from trading.position_selectors import position_formula

        inputs = position_formula(obj)
        return (
            f"{inputs['formula']} with E={inputs['entry_price']}, M={inputs['margin']}, q={inputs['qty']}, "
            f"mmr={inputs['mmr']} (bankruptcy {inputs['bankruptcy_price']})"
        )


@admin.register(PositionEvent)
class PositionEventAdmin(ReadOnlyAdmin):
    """Liquidation history (filter kind = liquidation): tick price, margin lost, insurance flow."""

    list_display = (
        "created_at",
        "kind",
        "position",
        "qty",
        "price",
        "liquidation_price",
        "margin",
        "realized_pnl",
        "insurance",
        "price_computed_at",
    )
    list_filter = ("kind",)
    date_hierarchy = "created_at"
    search_fields = ("position__id",)


@admin.register(PositionRejection)
class PositionRejectionAdmin(ReadOnlyAdmin):
    list_display = ("user", "client_order_id", "code", "status", "created_at")
    list_filter = ("code",)


from trading import funding_admin  # noqa: E402, F401  (registers the funding runs and payments)
