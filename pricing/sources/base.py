"""The one interface every price source implements. Django-free and network-free:
an adapter builds one request for a batch of instrument ids and parses the answer into one
observation per id it answered, plus a reason for every id it did not; ``pricing.fetch`` does
the I/O (and splits a batch the venue refused because of one unknown id).

Numbers are parsed with ``json.loads(parse_float=Decimal)`` or from strings, never
through binary floating point. Every helper here raises ``SourceError`` (never
``OverflowError``, ``ValueError``, ``TypeError`` …) so one bad answer fails one source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

T = TypeVar("T")


class SourceError(Exception):
    """A source answered with something we cannot use (HTTP error, error body, bad shape)."""

    kind = "error"

    def __init__(self, message: str, *, http_status: int | None = None, unknown_id: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        # The venue refused the whole batch because it does not know (at least) one id in it:
        # asked again one id per request, only the unknown one fails.
        self.unknown_id = unknown_id


class SourceRateLimited(SourceError):
    """HTTP 429 (or Binance's 418 ban): back off for ``retry_after`` seconds."""

    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: int | None, http_status: int) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Observation:
    """One source's price of one instrument in its quote currency, with what we know about it."""

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
    """What one answer held: an observation per instrument id it priced, a reason per requested id
    it did not (absent, malformed entry), and any stablecoin/USD rates seen."""

    observations: dict[str, Observation] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stable_rates: dict[str, Decimal] = field(default_factory=dict)


def per_instrument(ids: Sequence[str], entries: Mapping[str, Any], build: Callable[[str, Any], Observation]) -> Reading:
    """One observation per requested id found in ``entries`` (``build(id, entry)``); an id that is
    absent, or whose entry ``build`` refuses with ``SourceError``, gets its reason instead."""
    observations, errors = each_instrument(ids, entries, build)
    return Reading(observations=observations, errors=errors)


def each_instrument(
    ids: Sequence[str], entries: Mapping[str, Any], build: Callable[[str, Any], T]
) -> tuple[dict[str, T], dict[str, str]]:
    """``build(id, entry)`` per requested id found in ``entries``, and the reason for each other
    one (absent, or refused by ``build`` with ``SourceError``)."""
    built: dict[str, T] = {}
    errors: dict[str, str] = {}
    for instrument in ids:
        entry = entries.get(instrument)
        if entry is None:
            errors[instrument] = f"{instrument} is absent from the answer"
            continue
        try:
            built[instrument] = build(instrument, entry)
        except SourceError as exc:
            errors[instrument] = exc.message[:300]
    return built, errors


@dataclass(frozen=True)
class HttpRequestSpec:
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]


class PriceSource:
    """Base adapter: subclasses set ``name``/``quote``/``batch_size`` and implement
    ``request``/``parse_body``. ``batch_size`` is how many instrument ids one request may carry
    (1: one request per instrument; ``None``: any number, e.g. an all-markets endpoint)."""

    name = "base"
    quote = "USD"
    default_url = ""
    batch_size: int | None = 1

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.api_key = api_key or None

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def batches(self, ids: Sequence[str]) -> list[list[str]]:
        """The instrument ids split into as few requests as the venue allows."""
        unique = list(dict.fromkeys(ids))
        size = self.batch_size or max(1, len(unique))
        return [unique[i : i + size] for i in range(0, len(unique), size)]

    def parse(
        self, *, status: int, body: bytes, headers: dict[str, str], received_at: datetime, ids: Sequence[str]
    ) -> Reading:
        """Turn an HTTP response to a request for ``ids`` into a ``Reading`` (an observation or a
        reason per id), or raise ``SourceError`` when the whole answer is unusable."""
        if status in (418, 429):
            raise SourceRateLimited(
                f"HTTP {status} rate limited", retry_after=parse_retry_after(headers, received_at), http_status=status
            )
        self.check_error(status=status, body=body)
        if status >= 400:
            raise SourceError(f"HTTP {status}: {snippet(body)}", http_status=status)
        return self.parse_body(load_json(body), received_at=received_at, ids=list(ids))

    def check_error(self, *, status: int, body: bytes) -> None:
        """Hook for provider-specific error bodies (checked before the generic status check)."""

    def parse_body(
        self, payload: Any, *, received_at: datetime, ids: list[str]
    ) -> Reading:  # pragma: no cover - abstract
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
