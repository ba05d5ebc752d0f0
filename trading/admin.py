"""Ops admin for orders and fills: read-only (money moves only through services)."""

from django.contrib import admin

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
