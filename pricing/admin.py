"""Admin registrations for pricing: source health and recent candles (read-only)."""

from django.contrib import admin

from pricing.models import Candle, SourceHealth


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SourceHealth)
class SourceHealthAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "last_status",
        "last_price",
        "last_quote",
        "last_latency_ms",
        "last_success_at",
        "last_error_at",
        "last_error",
        "cooldown_until",
        "successes",
        "failures",
    )
    search_fields = ("name",)


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("start", "mode", "symbol", "open", "high", "low", "close", "ticks", "sources")
    list_filter = ("mode", "symbol")
    date_hierarchy = "start"
    ordering = ("-start",)
    list_per_page = 60


from pricing import registry_admin  # noqa: E402,F401  (tokens and markets: the registry)
