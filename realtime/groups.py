"""Channel-layer group names, built in one place only."""

from __future__ import annotations

import re

_SYMBOL = re.compile(r"^[A-Z0-9]{2,10}-[A-Z0-9]{2,10}$")


def prices_group(symbol: str = "SOL-USD") -> str:
    if not _SYMBOL.match(symbol):
        raise ValueError(f"bad symbol for a group name: {symbol!r}")
    return f"prices.{symbol}"


def user_group(user_id: int) -> str:
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise ValueError(f"bad user id for a group name: {user_id!r}")
    return f"user.{user_id}"
