"""Admin for the market registry: tokens and markets. Ops add a token and its markets here, halt
or resume a market (the actions save row by row, so the registry cache of the serving process is
cleared at once; other processes follow within ``MARKET_REGISTRY_TTL_SECONDS``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from pricing.models import Market, MarketStatus, Token


class MarketInline(admin.TabularInline):
    model = Market
    extra = 0
    fields = ("symbol", "kind", "status", "qty_step", "min_qty", "price_tick", "max_leverage", "mmr")
    show_change_link = True


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "mint", "decimals", "pyth_feed_id", "binance_symbol", "kraken_pair", "quorum")
    search_fields = ("code", "name", "mint")
    inlines = [MarketInline]
    fieldsets = [
        (None, {"fields": ("code", "name", "mint", "decimals")}),
        (
            "Price sources (blank: the venue does not list it)",
            {
                "fields": (
                    "pyth_feed_id",
                    "jupiter_id",
                    "backpack_symbol",
                    "coinbase_product",
                    "kraken_pair",
                    "binance_symbol",
                    "quorum",
                )
            },
        ),  # fmt: skip
        ("Synthetic mode", {"fields": ("synthetic_start", "synthetic_volatility", "synthetic_seed")}),
    ]


def _set_status(modeladmin, request, queryset, status: str) -> None:
    with transaction.atomic():
        changed = 0
        for market in queryset.select_for_update():
            if market.status != status:
                market.status = status
                market.save(update_fields=["status", "updated_at"])
                changed += 1
    modeladmin.message_user(request, f"{changed} market(s) now {status}.", messages.SUCCESS)


@admin.action(description="Halt: no new orders or positions (closing and liquidation go on)")
def halt(modeladmin, request, queryset):
    _set_status(modeladmin, request, queryset, MarketStatus.HALTED)


@admin.action(description="Resume trading")
def resume(modeladmin, request, queryset):
    _set_status(modeladmin, request, queryset, MarketStatus.ACTIVE)


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = (
        "symbol", "kind", "base", "status", "qty_step", "min_qty", "min_notional", "max_notional", "price_tick",
        "max_leverage", "mmr", "sort_order",
    )  # fmt: skip
    list_filter = ("kind", "status")
    search_fields = ("symbol", "base__code")
    actions = [halt, resume]
    list_select_related = ("base",)
