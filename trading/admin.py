"""Ops admin for orders and fills: read-only (money moves only through services)."""

from django.contrib import admin, messages

from trading.models import Fill, Order, OrderRejection


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class FillInline(admin.TabularInline):
    model = Fill
    extra = 0
    can_delete = False
    readonly_fields = ("qty", "price", "notional", "fee", "ledger_txn", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "client_order_id",
        "side",
        "qty",
        "notional",
        "filled_qty",
        "filled_avg_price",
        "status",
        "created_at",
    )
    list_filter = ("status", "side", "symbol")
    search_fields = ("id", "client_order_id", "user__address")
    inlines = [FillInline]


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
