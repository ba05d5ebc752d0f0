"""Admin: the per-user event log (read-only; events are written by services only)."""

from django.contrib import admin

from realtime.models import UserEvent, UserEventCounter


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserEvent)
class UserEventAdmin(ReadOnlyAdmin):
    list_display = ("user", "seq", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("user__address",)
    ordering = ("-created_at",)


@admin.register(UserEventCounter)
class UserEventCounterAdmin(ReadOnlyAdmin):
    list_display = ("user", "last_seq")
    search_fields = ("user__address",)
