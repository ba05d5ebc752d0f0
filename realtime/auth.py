"""Who is on the other end of a WebSocket.

Three ways in, all ending in a ``Principal``:
* the Django session cookie (browser), via Channels' ``AuthMiddlewareStack``;
* ``?token=`` on the URL (a session bearer token or an API-key bearer token);
* a first message ``{"type": "auth", "token": "..."}``.
Tokens are resolved by ``accounts.selectors`` (the consumer side may read selectors). A principal
carries its scopes (a session holds every scope, an API key those it was created with) and, for a
sign-in session, when it expires (the consumer closes the socket then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async

WebSocketAuthMiddleware = AuthMiddlewareStack


@dataclass(frozen=True)
class Principal:
    user_id: int
    session_id: str | None  # AuthSession id, when known (for revocation)
    cookie_session_key: str | None  # Django session key, when authenticated by cookie
    via: str  # "cookie" | "token"
    scopes: frozenset[str] = frozenset()
    expires_at: datetime | None = None  # the sign-in session's end; None for an API key

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def client_ip(scope: Mapping[str, Any]) -> str | None:
    """The peer's IP exactly as the HTTP rate limits read it (``accounts.ratelimit.client_ip``:
    the socket address, or the X-Forwarded-For hop of the Nth trusted proxy); None when unknown."""
    from accounts.ratelimit import client_ip as request_client_ip

    client = scope.get("client") or (None, None)
    forwarded = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == b"x-forwarded-for"]
    meta = {"REMOTE_ADDR": client[0] or "", "HTTP_X_FORWARDED_FOR": ",".join(forwarded)}
    return request_client_ip(SimpleNamespace(META=meta))


def token_from_query(scope: Mapping[str, Any]) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(raw).get("token")
    return values[0] if values else None


@database_sync_to_async
def principal_from_token(token: str) -> Principal | None:
    from accounts.selectors import api_key_auth_get, session_auth_get

    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    found = session_auth_get(token=token) or api_key_auth_get(secret=token)
    if not found:
        return None
    record, context = found
    if not record.user.is_active:
        return None
    return Principal(
        user_id=record.user.id,
        session_id=context.session_id or None,
        cookie_session_key=None,
        via="token",
        scopes=frozenset(context.scopes),
        expires_at=getattr(record, "expires_at", None),  # a session's; an API key has none
    )


@database_sync_to_async
def session_expires_at(principal: Principal) -> datetime | None:
    """The principal's session end as stored now (None: revoked, user disabled, or gone)."""
    from accounts.selectors import session_cookie_get

    session = session_cookie_get(session_id=principal.session_id or "", user_id=principal.user_id)
    return session.expires_at if session is not None and session.user.is_active else None


def has_session_cookie(scope: Mapping[str, Any]) -> bool:
    from django.conf import settings

    name = settings.SESSION_COOKIE_NAME.encode()
    return any(key == b"cookie" and name in value for key, value in scope.get("headers", ()))


async def principal_from_cookie(scope: Mapping[str, Any]) -> Principal | None:
    if not has_session_cookie(scope):
        return None  # anonymous: no thread hop, no database query
    return await _principal_from_cookie(scope)


@database_sync_to_async
def _principal_from_cookie(scope: Mapping[str, Any]) -> Principal | None:
    """A browser's Django session counts only while the sign-in session it is bound to
    is active (the same rule as the API's cookie authentication)."""
    from accounts.authentication import SESSION_KEY
    from accounts.selectors import session_cookie_get
    from accounts.tokens import ALL_SCOPES

    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    session = scope.get("session")
    if session is None:
        return None
    session_id = session.get(SESSION_KEY)
    bound = session_cookie_get(session_id=session_id, user_id=user.id) if session_id else None
    if bound is None:
        return None
    return Principal(
        user_id=user.id,
        session_id=str(bound.pk),
        cookie_session_key=session.session_key,
        via="cookie",
        scopes=ALL_SCOPES,  # a browser session holds every scope, as on HTTP
        expires_at=bound.expires_at,
    )
