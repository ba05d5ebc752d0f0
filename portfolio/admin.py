"""Ops admin for money: everything read-only; balance changes only through an adjustment
(its own form, reachable from the "Adjust balance" action) that posts a ledger transaction."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from portfolio.errors import InsufficientFunds
from portfolio.models import (
    Balance,
    BalanceAdjustment,
    Epoch,
    EquitySnapshot,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SpotHolding,
)
from portfolio.services import balance_adjust


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "user", "epoch", "created_at")
    list_filter = ("kind",)
    search_fields = ("code", "user__username", "user__address")


class LockedFilter(admin.SimpleListFilter):
    title = "locked"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", "something locked"), ("no", "nothing locked")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(locked__gt=0)
        if self.value() == "no":
            return queryset.filter(locked=0)
        return queryset


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    """Balances per account and asset: total, locked (open positions' margin + open orders' holds)
    and free; a user row links to the open orders holding that asset (the trading admin)."""

    list_display = ("account", "asset", "shard", "total", "locked", "free_display", "open_orders", "updated_at")
    list_filter = ("asset", "account__kind", LockedFilter)
    list_select_related = ("account",)
    search_fields = ("account__code", "account__user__address")
    actions = ["adjust_balance"]

    @admin.display(description="free")
    def free_display(self, obj: Balance):
        return obj.total - obj.locked

    @admin.display(description="open orders holding it")
    def open_orders(self, obj: Balance) -> str:
        """A link to the trader's open orders that hold this asset (by URL name: no import of the
        trading app, which portfolio never imports)."""
        if obj.account.user_id is None or not obj.locked:
            return "-"
        try:
            url = reverse("admin:trading_order_changelist")
        except NoReverseMatch:
            return "-"
        query = f"user__id__exact={obj.account.user_id}&status__exact=new&held_asset={obj.asset}"
        return format_html('<a href="{}?{}">open orders</a>', url, query)

    @admin.action(description="Adjust balance (posts a ledger transaction with a reason)")
    def adjust_balance(self, request, queryset):
        row = queryset.filter(account__kind=LedgerAccount.Kind.USER).first()
        if row is None or queryset.count() != 1:
            self.message_user(request, "Select exactly one user balance.", level=messages.ERROR)
            return None
        url = reverse("admin:portfolio_balanceadjustment_add")
        return HttpResponseRedirect(f"{url}?account={row.account_id}&asset={row.asset}")


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    readonly_fields = ("account", "asset", "bucket", "amount", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "reason", "reference_type", "reference_id", "memo", "created_by", "created_at")
    list_filter = ("reason",)
    search_fields = ("reference_id", "memo")
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "txn", "account", "asset", "bucket", "amount", "created_at")
    list_filter = ("asset", "bucket", "txn__reason")
    search_fields = ("account__code",)


@admin.register(SpotHolding)
class SpotHoldingAdmin(ReadOnlyAdmin):
    list_display = ("account", "asset", "qty", "cost_basis", "realized_pnl", "fees_paid", "trade_count")
    list_filter = ("asset",)


@admin.register(Epoch)
class EpochAdmin(ReadOnlyAdmin):
    list_display = ("account", "number", "starting_equity", "started_at", "ended_at", "final_equity")


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("account", "epoch", "taken_at", "equity")


@admin.register(BalanceAdjustment)
class BalanceAdjustmentAdmin(admin.ModelAdmin):
    """Adding one posts the ledger transaction (``balance_adjust``); never edited or deleted."""

    list_display = ("account", "asset", "amount", "reason", "created_by", "created_at")
    fields = ("account", "asset", "amount", "reason")

    def get_changeform_initial_data(self, request):
        return {key: request.GET.get(key) for key in ("account", "asset") if request.GET.get(key)}

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        try:
            adjustment = balance_adjust(
                account=obj.account, asset=obj.asset, amount=obj.amount, reason=obj.reason, created_by=request.user
            )
        except (InsufficientFunds, ValueError) as exc:
            raise ValidationError(str(exc)) from exc
        obj.pk = adjustment.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, f"Adjustment refused: {exc.messages[0]}", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
