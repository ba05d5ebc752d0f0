"""Who is on the other end of a WebSocket.

Three ways in, all ending in a ``Principal``:
* the Django session cookie (browser), via Channels' ``AuthMiddlewareStack``;
* ``?token=`` on the URL (a session bearer token or an API-key bearer token);
* a first message ``{"type": "auth", "token": "..."}``.
Tokens are resolved by ``accounts.selectors`` (the consumer side may read selectors).
"""

from __future__ import annotations

from dataclasses import dataclass
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


def token_from_query(scope: dict) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(raw).get("token")
    return values[0] if values else None


@database_sync_to_async
def principal_from_token(token: str) -> Principal | None:
    from accounts.selectors import user_from_token

    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    found = user_from_token(token)
    if not found:
        return None
    user, session_id = found
    if not user.is_active:
        return None
    return Principal(
        user_id=user.id, session_id=str(session_id) if session_id else None, cookie_session_key=None, via="token"
    )


def has_session_cookie(scope: dict) -> bool:
    from django.conf import settings

    name = settings.SESSION_COOKIE_NAME.encode()
    return any(key == b"cookie" and name in value for key, value in scope.get("headers", ()))


async def principal_from_cookie(scope: dict) -> Principal | None:
    if not has_session_cookie(scope):
        return None  # anonymous: no thread hop, no database query
    return await _principal_from_cookie(scope)


@database_sync_to_async
def _principal_from_cookie(scope: dict) -> Principal | None:
    """A browser's Django session counts only while the sign-in session it is bound to
    is active (the same rule as the API's cookie authentication)."""
    from accounts.authentication import SESSION_KEY
    from accounts.selectors import session_cookie_get

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
    return Principal(user_id=user.id, session_id=str(bound.pk), cookie_session_key=session.session_key, via="cookie")
