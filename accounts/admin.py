"""Admin: users (address, first/last sign-in, sessions, API keys) with revoke actions.

Revokes go through the services, so the ``session_revoked`` hook runs (after commit) as for a
logout; a user added here gets the ``user_created`` hook, as ``UserManager.create_user`` does.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q

from accounts import services
from accounts.models import ApiKey, AuthSession, SignInNonce, User
from core import hooks


class AuthSessionInline(admin.TabularInline):
    model = AuthSession
    fields = ("id", "created_at", "expires_at", "last_seen_at", "revoked_at", "ip", "user_agent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("key_id", "name", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "id",
        "address",
        "username",
        "is_staff",
        "is_active",
        "first_sign_in_at",
        "last_sign_in_at",
        "active_sessions",
        "active_keys",
    )
    list_filter = ("is_staff", "is_active")
    search_fields = ("address", "username")
    ordering = ("-created_at",)
    readonly_fields = ("created_at", "last_login", "first_sign_in_at", "last_sign_in_at")
    fieldsets = (
        (None, {"fields": ("username", "address", "password")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("created_at", "first_sign_in_at", "last_sign_in_at", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),)
    inlines = (AuthSessionInline, ApiKeyInline)
    actions = ("revoke_sessions", "revoke_api_keys")

    def save_model(self, request, obj, form, change):
        """A user added here gets what every new user gets (the ``user_created`` hook: portfolio's
        books and starting grant), in the admin's transaction."""
        super().save_model(request, obj, form, change)
        if not change:
            hooks.user_created(user=obj)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _sessions=Count("auth_sessions", filter=Q(auth_sessions__revoked_at__isnull=True), distinct=True),
                _keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True),
            )
        )

    @admin.display(description="sessions", ordering="_sessions")
    def active_sessions(self, obj):
        return obj._sessions

    @admin.display(description="API keys", ordering="_keys")
    def active_keys(self, obj):
        return obj._keys

    @admin.action(description="Revoke all sessions of the selected users")
    def revoke_sessions(self, request, queryset):
        total = sum(services.session_revoke_all(user=user) for user in queryset)
        self.message_user(request, f"Revoked {total} session(s).", messages.SUCCESS)

    @admin.action(description="Revoke all API keys of the selected users")
    def revoke_api_keys(self, request, queryset):
        total = sum(services.api_key_revoke_all(user=user) for user in queryset)
        self.message_user(request, f"Revoked {total} API key(s).", messages.SUCCESS)


@admin.register(AuthSession)
class AuthSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "created_at", "expires_at", "last_seen_at", "revoked_at", "ip")
    list_filter = ("revoked_at",)
    search_fields = ("user__address", "user__username", "=id")
    readonly_fields = [f.name for f in AuthSession._meta.fields if f.name != "token_hash"]
    exclude = ("token_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected sessions")
    def revoke(self, request, queryset):
        for session in queryset.filter(revoked_at__isnull=True):
            services.session_revoke(user=None, session_id=str(session.pk))
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("key_id", "name", "user", "scopes", "created_at", "last_used_at", "revoked_at")
    search_fields = ("key_id", "name", "user__address")
    readonly_fields = ("key_id", "name", "user", "scopes", "created_at", "last_used_at", "revoked_at")
    exclude = ("secret_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(user=None, key_id=key.key_id)
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(SignInNonce)
class SignInNonceAdmin(admin.ModelAdmin):
    list_display = ("nonce", "address", "domain", "issued_at", "expires_at", "consumed_at", "ip")
    search_fields = ("=nonce", "address")
    readonly_fields = [f.name for f in SignInNonce._meta.fields]

    def has_add_permission(self, request):
        return False
