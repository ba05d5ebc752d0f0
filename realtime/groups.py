"""Channel-layer group names, built in one place only."""

from __future__ import annotations

import hashlib
import re

_SYMBOL = re.compile(r"^[A-Z0-9]{2,10}-[A-Z0-9]{2,10}$")
_SESSION = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def prices_group(symbol: str = "SOL-USD") -> str:
    if not _SYMBOL.match(symbol):
        raise ValueError(f"bad symbol for a group name: {symbol!r}")
    return f"prices.{symbol}"


def user_group(user_id: int) -> str:
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise ValueError(f"bad user id for a group name: {user_id!r}")
    return f"user.{user_id}"


def session_group(session_id: str) -> str:
    """Sockets opened under one sign-in session (closed when it is revoked)."""
    session_id = str(session_id)
    if not _SESSION.match(session_id):
        raise ValueError(f"bad session id for a group name: {session_id!r}")
    return f"session.{session_id}"


def cookie_session_group(session_key: str) -> str:
    """Sockets opened with a Django session cookie; the key itself never leaves the server."""
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"cookie.{digest}"
