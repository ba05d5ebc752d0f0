"""Credential formats and hashing. Pure, Django-free.

Secrets are 256-bit random strings with a readable prefix; only their SHA-256 is stored
(they are high-entropy, so a fast hash is the right tool; lookups go by the hash).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

SESSION_PREFIX = "sps_"
API_SECRET_PREFIX = "spk_"
API_KEY_ID_PREFIX = "PK"
API_KEY_SESSION_PREFIX = "apikey-"
ALL_SCOPES = frozenset({"read", "trade"})
_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def new_api_key_id() -> str:
    return API_KEY_ID_PREFIX + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(18))


def new_api_secret() -> str:
    return API_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_nonce(length: int = 32) -> str:
    """Alphanumeric, 32 chars from 62 symbols = 190 bits from ``secrets``."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class AuthContext:
    """``request.auth`` for every accounts authentication class.

    ``kind``: ``"session"`` (bearer token), ``"cookie"`` (browser session) or ``"api_key"``.
    ``session_id``: the session UUID as a string, or ``"apikey-<key_id>"``.
    """

    kind: str
    session_id: str
    scopes: frozenset[str]
    api_key_id: str | None = None

    @property
    def is_session(self) -> bool:
        return self.kind in {"session", "cookie"}

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
