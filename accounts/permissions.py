"""DRF permissions for every app: ``IsAuthenticatedRead`` and ``CanTrade``.

Sessions (bearer or cookie) hold every scope; an API key holds the scopes it was created with.
Unauthenticated -> 401 ``not_authenticated``; a missing scope -> 403 ``scope_missing``.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.errors import ScopeMissing, SessionRequired
from accounts.tokens import AuthContext


def _authenticated(request) -> bool:
    return bool(request.user and request.user.is_authenticated and isinstance(request.auth, AuthContext))


def _require(request, scope: str) -> bool:
    if not _authenticated(request):
        return False
    if not request.auth.has_scope(scope):
        raise ScopeMissing(f"This API key lacks the {scope!r} scope.", extra={"required_scope": scope})
    return True


class IsAuthenticatedRead(BasePermission):
    """Signed in (any credential) with the ``read`` scope."""

    def has_permission(self, request, view) -> bool:
        return _require(request, "read")


class CanTrade(BasePermission):
    """``read`` for safe methods; ``trade`` for unsafe ones (orders, cancels, position closes)."""

    def has_permission(self, request, view) -> bool:
        return _require(request, "read" if request.method in SAFE_METHODS else "trade")


class IsSession(BasePermission):
    """A signed-in session (bearer or cookie), not an API key: credential management."""

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        if not request.auth.is_session:
            raise SessionRequired()
        return True
