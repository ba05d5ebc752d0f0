"""Writes: issue a sign-in nonce, sign in (consume it, open a session), revoke, API keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session as DjangoSession
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts import siws
from accounts.errors import AccountDisabled, ApiKeyLimit, NotFound, SignInRefused
from accounts.models import ApiKey, AuthSession, SignInNonce, User
from accounts.ratelimit import rate_limit_hit
from accounts.tokens import (
    ALL_SCOPES,
    API_KEY_SESSION_PREFIX,
    new_api_key_id,
    new_api_secret,
    new_nonce,
    new_session_token,
    token_hash,
)
from core import hooks
from core.timefmt import iso_utc

logger = logging.getLogger("accounts")
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedSignIn:
    """The sign-in input handed to a wallet (and the exact message when the address is known)."""

    domain: str
    uri: str
    statement: str
    version: str
    chain_id: str
    nonce: str
    issued_at: str
    expiration_time: str
    address: str | None
    message: str | None


@dataclass(frozen=True)
class SignInResult:
    user: User
    session: AuthSession
    token: str
    user_created: bool


def _refuse(error: siws.SignInError) -> SignInRefused:
    return SignInRefused(error.code, error.message)


def nonce_issue(*, domain: str, uri: str, address: str | None, ip: str | None) -> IssuedSignIn:
    """Store a fresh nonce with what was issued; rate-limited per IP only.

    Asking for a nonce proves nothing about the address named, so no per-address quota is
    counted here: anyone could otherwise use up a victim's quota (docs/auth.md, "Rate limits")."""
    rate_limit_hit(scope="nonce:ip", ident=ip or "unknown", rate=settings.AUTH_RATE_NONCE_IP)
    if address is not None:
        try:
            siws.decode_public_key(address)
        except siws.SignInError as exc:
            raise _refuse(exc) from exc
    now = timezone.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what the message shows
    expires = now + timedelta(seconds=settings.SIWS_NONCE_TTL_SECONDS)
    row = SignInNonce.objects.create(
        nonce=new_nonce(),
        address=address or "",
        domain=domain,
        uri=uri,
        statement=settings.SIWS_STATEMENT,
        chain_id=settings.SIWS_CHAIN_ID,
        issued_at=now,
        expires_at=expires,
        ip=ip,
    )
    # Housekeeping: nonces a day past expiry are of no use, not even to report NONCE_REUSED.
    SignInNonce.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    fields = siws.SignInFields(
        domain=domain,
        address=address or "",
        statement=row.statement or None,
        uri=uri or None,
        version="1",
        chain_id=row.chain_id or None,
        nonce=row.nonce,
        issued_at=iso_utc(now, timespec="milliseconds"),
        expiration_time=iso_utc(expires, timespec="milliseconds"),
    )
    return IssuedSignIn(
        domain=domain,
        uri=uri,
        statement=row.statement,
        version="1",
        chain_id=row.chain_id,
        nonce=row.nonce,
        issued_at=fields.issued_at or "",
        expiration_time=fields.expiration_time or "",
        address=address,
        message=siws.build_message(fields) if address else None,
    )


def session_sign_in(
    *,
    message: str,
    signature: str | bytes,
    public_key: str | None,
    expected_domain: str,
    ip: str | None,
    user_agent: str = "",
) -> SignInResult:
    """Verify a signed SIWS message, consume its nonce (once, atomically) and open a session.

    Rate limits: every attempt counts against the caller's IP (``verify:ip``); the address
    (``verify:address``) counts only a sign-in its signature proved, on a nonce not yet used --
    an unsigned claim or a replayed old message never touches the address's quota."""
    rate_limit_hit(scope="verify:ip", ident=ip or "unknown", rate=settings.AUTH_RATE_VERIFY_IP)
    now = timezone.now()
    try:
        parsed = siws.parse_message(message)
        row = SignInNonce.objects.filter(nonce=parsed.nonce).first() if parsed.nonce else None
        fields = siws.verify_sign_in(
            message=message,
            signature=signature,
            public_key=public_key,
            expected_domain=expected_domain,
            now=now,
            issued=row.issued() if row is not None else None,
            max_skew=timedelta(seconds=settings.SIWS_CLOCK_SKEW_SECONDS),
        )
    except siws.SignInError as exc:
        raise _refuse(exc) from exc
    if row is None:
        raise SignInRefused("NONCE_UNKNOWN", "This nonce was not issued by this server (or has been purged).")
    if row.consumed_at is None and row.expires_at > now:
        # Proven by the signature, on a fresh nonce: count it for the address (a replay of a used
        # message is not counted; it is refused as NONCE_REUSED below). Counted before the
        # transaction, so no Redis round trip runs while the nonce row is locked.
        rate_limit_hit(scope="verify:address", ident=fields.address, rate=settings.AUTH_RATE_VERIFY_ADDRESS)

    with transaction.atomic(durable=True):
        _nonce_consume(row=row, now=now)
        user, created = _wallet_user_sign_in(address=fields.address, now=now)
        token = new_session_token()
        session = AuthSession.objects.create(
            user=user,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.AUTH_SESSION_TTL_SECONDS),
            last_seen_at=now,
            ip=ip,
            user_agent=user_agent[:256],
        )
        SignInNonce.objects.filter(pk=row.pk).update(session=session)
    user.refresh_from_db()
    logger.info("sign-in", extra={"user_id": user.pk, "session_id": str(session.id), "new_user": created})
    return SignInResult(user=user, session=session, token=token, user_created=created)


def _nonce_consume(*, row: SignInNonce, now: datetime) -> None:
    """Mark the nonce used (one conditional UPDATE: only one sign-in can win it), or say why not."""
    consumed = SignInNonce.objects.filter(pk=row.pk, consumed_at__isnull=True, expires_at__gt=now).update(
        consumed_at=now
    )
    if not consumed:
        if SignInNonce.objects.filter(pk=row.pk, consumed_at__isnull=False).exists():
            raise SignInRefused("NONCE_REUSED", "This nonce has already been used to sign in.")
        raise SignInRefused("EXPIRED", "The nonce has expired; request a new one.")


def _wallet_user_sign_in(*, address: str, now: datetime) -> tuple[User, bool]:
    """The wallet's user (created on a first sign-in, with the ``user_created`` hook in the same
    transaction: portfolio opens the books), refused when disabled; sign-in times recorded."""
    user, created = User.objects.get_or_create(
        address=address, defaults={"username": address, "password": make_password(None)}
    )
    if created:
        hooks.user_created(user=user)
    if not user.is_active:
        raise AccountDisabled()
    User.objects.filter(pk=user.pk).update(
        last_sign_in_at=now, first_sign_in_at=F("first_sign_in_at") if user.first_sign_in_at else now
    )
    return user, created


def session_bind_cookie(*, session: AuthSession, django_session_key: str) -> None:
    """Remember which Django session (browser cookie) belongs to this session, to end both together."""
    AuthSession.objects.filter(pk=session.pk).update(django_session_key=django_session_key or "")


def session_touch(*, session_id: str, last_seen_at: datetime | None) -> None:
    """Record activity at most once a minute. ``last_seen_at`` is what authentication just read:
    less than a minute old, nothing is sent (no round trip per request); otherwise a conditional
    UPDATE (a concurrent request may already have written it)."""
    now = timezone.now()
    if last_seen_at is not None and last_seen_at >= now - TOUCH_EVERY:
        return
    AuthSession.objects.filter(pk=session_id).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - TOUCH_EVERY)
    ).update(last_seen_at=now)


def _announce(user_id: int, session_id: str) -> None:
    """After commit, the ``session_revoked`` hook (realtime closes the session's sockets); a
    failure there is logged, never undoes the revoke."""
    transaction.on_commit(lambda: hooks.session_revoked(user_id=user_id, session_id=session_id), robust=True)


def _revoke_sessions(sessions: QuerySet[AuthSession], now: datetime) -> int:
    revoked = list(sessions.filter(revoked_at__isnull=True).values_list("pk", "user_id", "django_session_key"))
    if not revoked:
        return 0
    AuthSession.objects.filter(pk__in=[pk for pk, _, _ in revoked]).update(revoked_at=now)
    DjangoSession.objects.filter(session_key__in=[key for _, _, key in revoked if key]).delete()
    for pk, user_id, _ in revoked:
        _announce(user_id, str(pk))
    return len(revoked)


def session_revoke(*, user: User | None, session_id: str) -> None:
    """End one session (logout, DELETE /sessions/{id}, admin). ``user=None``: any user's (admin)."""
    sessions = AuthSession.objects.filter(pk=session_id)
    if user is not None:
        sessions = sessions.filter(user=user)
    with transaction.atomic():
        if not sessions.exists():
            raise NotFound("No such session.")
        _revoke_sessions(sessions, timezone.now())


def session_revoke_all(*, user: User) -> int:
    """End every session of a user (admin action)."""
    with transaction.atomic():
        return _revoke_sessions(AuthSession.objects.filter(user=user), timezone.now())


def api_key_create(*, user: User, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key; returns it with its secret (shown once: only the hash is stored)."""
    wanted = set(scopes)
    if "trade" in wanted:
        wanted.add("read")  # trading needs to see orders and balances
    wanted &= ALL_SCOPES
    secret = new_api_secret()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialise the per-user limit
        if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= settings.AUTH_MAX_API_KEYS_PER_USER:
            raise ApiKeyLimit(extra={"limit": settings.AUTH_MAX_API_KEYS_PER_USER})
        key = ApiKey.objects.create(
            user=user, name=name, key_id=new_api_key_id(), secret_hash=token_hash(secret), scopes=sorted(wanted)
        )
    return key, secret


def api_key_touch(*, key_id: str, last_used_at: datetime | None) -> None:
    """Record use at most once a minute. ``last_used_at`` is what authentication just read: less
    than a minute old, nothing is sent (no round trip per request); otherwise a conditional
    UPDATE (a concurrent request may already have written it)."""
    now = timezone.now()
    if last_used_at is not None and last_used_at >= now - TOUCH_EVERY:
        return
    ApiKey.objects.filter(key_id=key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_EVERY)
    ).update(last_used_at=now)


def _revoke_keys(keys: QuerySet[ApiKey], now: datetime) -> int:
    revoked = list(keys.filter(revoked_at__isnull=True).values_list("pk", "user_id", "key_id"))
    ApiKey.objects.filter(pk__in=[pk for pk, _, _ in revoked]).update(revoked_at=now)
    for _, user_id, key_id in revoked:
        _announce(user_id, API_KEY_SESSION_PREFIX + key_id)
    return len(revoked)


def api_key_revoke(*, user: User | None, key_id: str) -> None:
    """Revoke one key (idempotent for an already revoked key of the user)."""
    keys = ApiKey.objects.filter(key_id=key_id)
    if user is not None:
        keys = keys.filter(user=user)
    with transaction.atomic():
        if not keys.exists():
            raise NotFound("No such API key.")
        _revoke_keys(keys, timezone.now())


def api_key_revoke_all(*, user: User) -> int:
    with transaction.atomic():
        return _revoke_keys(ApiKey.objects.filter(user=user), timezone.now())
