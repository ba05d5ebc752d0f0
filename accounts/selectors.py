"""Reads: credentials -> user, sessions and API keys of a user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, AuthSession, User
from accounts.pg import key_getter
from accounts.tokens import (
    ALL_SCOPES,
    API_KEY_SESSION_PREFIX,
    API_SECRET_PREFIX,
    SESSION_PREFIX,
    AuthContext,
    hashes_equal,
    token_hash,
)


@dataclass(frozen=True, slots=True)
class ApiKeyGrant:
    """What a request signed with an active API key gets: the key's owner (a whole ``User``,
    read in the same statement), the key's id, and when it was last used (for the touch)."""

    user: User
    key_id: str
    last_used_at: datetime | None


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


def api_key_auth_get(*, key_id: str | None = None, secret: str) -> tuple[ApiKeyGrant, AuthContext] | None:
    """An active API key of an active user: by ``key_id`` + secret (compared in constant time) or
    by the secret alone (its hash is the lookup). One indexed statement (``accounts.pg``), read
    on every request: a revoke or a disabled user refuses the very next one (nothing is cached)."""
    if not secret.startswith(API_SECRET_PREFIX) or len(secret) > 128:
        return None
    digest = token_hash(secret)
    get = key_getter()
    if key_id is not None:
        if len(key_id) > 32:
            return None
        row = get("key_id", key_id)
        if row is None or not hashes_equal(row.secret_hash, digest):
            return None
    else:
        row = get("secret_hash", digest)
        if row is None:
            return None
    context = AuthContext(
        kind="api_key",
        session_id=API_KEY_SESSION_PREFIX + row.key_id,
        scopes=frozenset(row.scopes) & ALL_SCOPES,
        api_key_id=row.key_id,
    )
    return ApiKeyGrant(user=row.user, key_id=row.key_id, last_used_at=row.last_used_at), context


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
