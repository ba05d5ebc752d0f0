"""The one interface every price source implements. Django-free and network-free:
an adapter builds its request and parses a response; ``pricing.fetch`` does the I/O.

Numbers are parsed with ``json.loads(parse_float=Decimal)`` or from strings, never
through binary floating point. Every helper here raises ``SourceError`` (never
``OverflowError``, ``ValueError``, ``TypeError`` …) so one bad answer fails one source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
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
    except RecursionError as exc:
        raise SourceError("not JSON we accept: nested too deep") from exc


# A parsed number's magnitude must lie in [1E-30, 1E+30] (or be zero): nothing a price source
# says is outside that, and arithmetic on it (a mid, a spread) can then never overflow.
MAX_ADJUSTED_EXPONENT = 30


def to_decimal(raw: Any, what: str) -> Decimal:
    """A finite Decimal of a sane magnitude from a JSON string/int/Decimal; bools and floats are refused."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        raise SourceError(f"{what} is missing or not a number: {short(raw)}")
    try:
        value = Decimal(raw) if not isinstance(raw, Decimal) else raw
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise SourceError(f"{what} is not a number: {short(raw)}") from exc
    if not value.is_finite():
        raise SourceError(f"{what} is not finite: {short(raw)}")
    if value and abs(value.adjusted()) > MAX_ADJUSTED_EXPONENT:
        raise SourceError(f"{what} is out of range: {short(raw)}")
    return value


def short(raw: Any, limit: int = 40) -> str:
    """``repr`` cut to ``limit`` characters (a hostile value can be megabytes long)."""
    try:
        text = repr(raw)
    except ValueError:  # an int with more digits than Python converts to text
        return f"<{type(raw).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    if raw.isascii() and raw.isdigit():
        try:
            return int(raw)
        except ValueError:  # more digits than int() converts: garbled
            return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0, int((moment - now).total_seconds() + 0.999))


def from_unix(seconds: int | Decimal, what: str = "timestamp") -> datetime:
    """Unix seconds as an aware UTC datetime, or ``SourceError`` when out of the calendar's range."""
    try:
        return datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    except (ArithmeticError, OSError, ValueError, TypeError) as exc:
        raise SourceError(f"{what} out of range: {short(seconds)}") from exc


def from_iso(raw: Any, what: str = "time") -> datetime:
    """An ISO-8601 string with a UTC offset (``Z`` or ``±hh:mm``) as an aware UTC datetime.

    A time without an offset is refused: guessing its zone could make a stale price look fresh.
    """
    if not isinstance(raw, str):
        raise SourceError(f"{what} is not a string: {short(raw)}")
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise SourceError(f"bad {what}: {short(raw)}") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SourceError(f"{what} has no UTC offset: {short(raw)}")
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise SourceError(f"{what} out of range: {short(raw)}") from exc
