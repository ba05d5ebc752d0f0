"""DRF authentication: API-key headers, Bearer tokens (session or API key), the session cookie.

Every class sets ``request.auth`` to an ``accounts.tokens.AuthContext`` (kind, session_id, scopes).
Order in REST_FRAMEWORK: API-key headers, Bearer, cookie; the first one's ``WWW-Authenticate``
makes unauthenticated requests 401.
"""

from __future__ import annotations

from django.contrib.auth import login
from rest_framework import authentication, exceptions

from accounts import selectors, services
from accounts.tokens import ALL_SCOPES, AuthContext

SESSION_KEY = "accounts_session_id"
WWW_AUTHENTICATE = 'Bearer realm="api"'


class ApiKeyHeaderAuthentication(authentication.BaseAuthentication):
    """``APCA-API-KEY-ID`` + ``APCA-API-SECRET-KEY`` (the Alpaca convention)."""

    def authenticate(self, request):
        key_id = request.META.get("HTTP_APCA_API_KEY_ID")
        secret = request.META.get("HTTP_APCA_API_SECRET_KEY")
        if key_id is None and secret is None:
            return None
        if not key_id or not secret:
            raise exceptions.AuthenticationFailed("Send both APCA-API-KEY-ID and APCA-API-SECRET-KEY.")
        found = selectors.api_key_auth_get(key_id=key_id.strip(), secret=secret.strip())
        if found is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        grant, context = found
        services.api_key_touch(key_id=grant.key_id, last_used_at=grant.last_used_at)
        return grant.user, context

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


class BearerAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <session token | API-key secret>``."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Malformed Bearer header.")
        session = selectors.session_auth_get(token=token)
        if session is not None:
            record, context = session
            services.session_touch(session_id=context.session_id, last_seen_at=record.last_seen_at)
            return record.user, context
        key = selectors.api_key_auth_get(secret=token)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        grant, context = key
        services.api_key_touch(key_id=grant.key_id, last_used_at=grant.last_used_at)
        return grant.user, context

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


class CookieSessionAuthentication(authentication.SessionAuthentication):
    """The Django session cookie set at sign-in; CSRF enforced on unsafe methods.

    The cookie only counts while the server-side session it is bound to is active, so
    logout, ``DELETE /sessions/{id}`` and admin revokes end browser sessions too.
    """

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if not user or not user.is_active:
            return None
        session_id = request._request.session.get(SESSION_KEY)
        session = selectors.session_cookie_get(session_id=session_id, user_id=user.pk) if session_id else None
        if session is None:
            return None
        self.enforce_csrf(request)
        services.session_touch(session_id=str(session.pk), last_seen_at=session.last_seen_at)
        return user, AuthContext(kind="cookie", session_id=str(session.pk), scopes=ALL_SCOPES)


def cookie_session_open(request, result: services.SignInResult) -> None:
    """Log the browser in: rotate the Django session key, bind it to the new server-side session."""
    django_request = getattr(request, "_request", request)
    login(django_request, result.user, backend="django.contrib.auth.backends.ModelBackend")
    django_request.session[SESSION_KEY] = str(result.session.pk)
    django_request.session.set_expiry(result.session.expires_at)
    django_request.session.save()
    services.session_bind_cookie(session=result.session, django_session_key=django_request.session.session_key)


def cookie_session_close(request) -> None:
    django_request = getattr(request, "_request", request)
    django_request.session.flush()
