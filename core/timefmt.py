"""The one time formatter: RFC 3339 in UTC with a ``Z`` (what every API answer, event, log line
and signed message carries).

``timespec`` is ``datetime.isoformat``'s: ``"auto"`` (microseconds only when there are any: API
answers, events, logs), ``"microseconds"`` (always six digits: the price record, so its text
sorts and compares by length too), ``"milliseconds"`` (the Sign-In With Solana message's
``Issued At`` / ``Expiration Time``, as wallets write them).
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(moment: datetime, *, timespec: str = "auto") -> str:
    """``moment`` (timezone-aware) as RFC 3339 UTC: ``2026-12-07T04:11:19.123456Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_utc_or_none(moment: datetime | None) -> str | None:
    """``iso_utc(moment)``, or ``None`` for a time not set (a position still open has no ``closed_at``)."""
    return None if moment is None else iso_utc(moment)
