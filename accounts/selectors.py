"""Reads: credentials -> user, sessions and API keys of a user."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, AuthSession, User
from accounts.tokens import (
    ALL_SCOPES,
    API_KEY_SESSION_PREFIX,
    API_SECRET_PREFIX,
    SESSION_PREFIX,
    AuthContext,
    hashes_equal,
    token_hash,
)


def _api_key_context(key: ApiKey) -> AuthContext:
    return AuthContext(
        kind="api_key",
        session_id=API_KEY_SESSION_PREFIX + key.key_id,
        scopes=frozenset(key.scopes) & ALL_SCOPES,
        api_key_id=key.key_id,
    )


def session_auth_get(*, token: str) -> tuple[AuthSession, AuthContext] | None:
    """An active session for a bearer session token (looked up by its hash)."""
    if not token.startswith(SESSION_PREFIX) or len(token) > 128:
        return None
    session = (
        AuthSession.objects.select_related("user")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if session is None or not session.user.is_active:
        return None
    return session, AuthContext(kind="session", session_id=str(session.id), scopes=ALL_SCOPES)


def api_key_auth_get(*, key_id: str | None = None, secret: str) -> tuple[ApiKey, AuthContext] | None:
    """An active API key: by ``key_id`` + secret (compared in constant time) or by the secret alone."""
    if not secret.startswith(API_SECRET_PREFIX) or len(secret) > 128:
        return None
    digest = token_hash(secret)
    keys = ApiKey.objects.select_related("user").filter(revoked_at__isnull=True)
    if key_id is not None:
        if len(key_id) > 32:
            return None
        key = keys.filter(key_id=key_id).first()
        if key is None or not hashes_equal(key.secret_hash, digest):
            return None
    else:
        key = keys.filter(secret_hash=digest).first()
    if key is None or not key.user.is_active:
        return None
    return key, _api_key_context(key)


def auth_from_token(token: str) -> tuple[User, AuthContext] | None:
    """A bearer token: a session token or an API-key secret."""
    found = session_auth_get(token=token) or api_key_auth_get(secret=token)
    if found is None:
        return None
    record, context = found
    return record.user, context


def user_from_token(token: str) -> tuple[User, str] | None:
    """(user, session_id) for a session token or an API-key secret; None if unknown/revoked/expired.

    For the WebSocket layer (``?token=`` or an ``{"type": "auth", "token": ...}`` frame).
    """
    if not isinstance(token, str) or not token:
        return None
    found = auth_from_token(token)
    if found is None:
        return None
    user, context = found
    return user, context.session_id


def session_is_active(session_id: str) -> bool:
    """Whether a session id from ``user_from_token`` still authenticates (not revoked/expired)."""
    if not isinstance(session_id, str):
        return False
    if session_id.startswith(API_KEY_SESSION_PREFIX):
        key_id = session_id[len(API_KEY_SESSION_PREFIX) :]
        return ApiKey.objects.filter(key_id=key_id, revoked_at__isnull=True, user__is_active=True).exists()
    try:
        pk = uuid.UUID(session_id)
    except ValueError:
        return False
    return AuthSession.objects.filter(
        pk=pk, revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
    ).exists()


def session_cookie_get(*, session_id: str, user_id: int) -> AuthSession | None:
    """The active session a browser cookie is bound to."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        return None
    return AuthSession.objects.filter(
        pk=pk, user_id=user_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).first()


def session_list(*, user: User) -> QuerySet[AuthSession]:
    """The user's active sessions, newest first."""
    return AuthSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()).order_by(
        "-created_at"
    )


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    """The user's API keys (active and revoked), newest first."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")
