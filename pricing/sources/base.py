"""The one interface every price source implements. Django-free and network-free:
an adapter builds its request and parses a response; ``pricing.fetch`` does the I/O.

Numbers are parsed with ``json.loads(parse_float=Decimal)`` or from strings, never
through binary floating point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any


class SourceError(Exception):
    """A source answered with something we cannot use (HTTP error, error body, bad shape)."""

    kind = "error"

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class SourceRateLimited(SourceError):
    """HTTP 429 (or Binance's 418 ban): back off for ``retry_after`` seconds."""

    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: int | None, http_status: int) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Observation:
    """One source's SOL price in its quote currency, with what we know about it."""

    source: str
    price: Decimal  # mid when bid and ask are known, else the source's last/oracle price
    quote: str = "USD"  # "USD", "USDT" or "USDC"
    bid: Decimal | None = None
    ask: Decimal | None = None
    source_time: datetime | None = None  # the source's own timestamp, when it gives one
    received_at: datetime | None = None
    conf: Decimal | None = None  # Pyth confidence interval (same units as price)
    ema_price: Decimal | None = None  # Pyth EMA price


@dataclass(frozen=True)
class Reading:
    """What one fetch produced: the SOL observation and any stablecoin/USD rates seen."""

    observation: Observation
    stable_rates: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRequestSpec:
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]


class PriceSource:
    """Base adapter: subclasses set ``name``/``quote`` and implement ``request``/``parse_body``."""

    name = "base"
    quote = "USD"
    default_url = ""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.api_key = api_key or None

    def request(self) -> HttpRequestSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def url(self) -> str:
        return self.base_url + self.request().path

    def parse(self, *, status: int, body: bytes, headers: dict[str, str], received_at: datetime) -> Reading:
        """Turn an HTTP response into a ``Reading`` or raise ``SourceError``."""
        if status in (418, 429):
            raise SourceRateLimited(
                f"HTTP {status} rate limited", retry_after=parse_retry_after(headers, received_at), http_status=status
            )
        self.check_error(status=status, body=body)
        if status >= 400:
            raise SourceError(f"HTTP {status}: {snippet(body)}", http_status=status)
        return self.parse_body(load_json(body), received_at=received_at)

    def check_error(self, *, status: int, body: bytes) -> None:
        """Hook for provider-specific error bodies (checked before the generic status check)."""

    def parse_body(self, payload: Any, *, received_at: datetime) -> Reading:  # pragma: no cover - abstract
        raise NotImplementedError


# --- helpers ------------------------------------------------------------------------------


def snippet(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", errors="replace").strip()


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"not JSON: {snippet(body, 80)}") from exc


def to_decimal(raw: Any, what: str) -> Decimal:
    """A finite Decimal from a JSON string/int/Decimal; bools and floats are refused."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        raise SourceError(f"{what} is missing or not a number: {raw!r}")
    try:
        value = Decimal(raw) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise SourceError(f"{what} is not a number: {raw!r}") from exc
    if not value.is_finite():
        raise SourceError(f"{what} is not finite: {raw!r}")
    return value


def mid_or_last(bid: Decimal | None, ask: Decimal | None, last: Decimal | None) -> Decimal:
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        return (bid + ask) / 2
    if last is None:
        raise SourceError("no price in the response")
    return last


def parse_retry_after(headers: dict[str, str], now: datetime) -> int | None:
    """``Retry-After`` as whole seconds: delta-seconds or an HTTP date; ``None`` if absent/garbled."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0, int((moment - now).total_seconds() + 0.999))


def from_unix(seconds: int | Decimal) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)
