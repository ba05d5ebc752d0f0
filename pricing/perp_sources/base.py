"""The interface of a venue's perp market data: one request for every instrument, one
observation per instrument in the answer (``pricing.sources.base``'s helpers: numbers from
strings into ``Decimal``, never through binary floats; every failure a ``SourceError``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing.sources.base import (
    SourceError,
    SourceRateLimited,
    each_instrument,
    load_json,
    parse_retry_after,
    snippet,
    to_decimal,
)


@dataclass(frozen=True)
class PerpObservation:
    """One venue's perp market: its mark and index in its quote currency, and its current funding
    rate per ``interval_hours`` (the venue's own interval; longs pay shorts when positive)."""

    source: str
    instrument: str  # the venue's id: SOL_USDC_PERP, SOLUSDT, SOL
    mark: Decimal
    index: Decimal | None
    funding_rate: Decimal | None
    interval_hours: int
    quote: str
    next_funding_at: datetime | None = None
    received_at: datetime | None = None

    def rate_per(self, hours: int) -> Decimal | None:
        """The funding rate restated per ``hours`` (a Binance 8 h rate per 1 h is an eighth of it)."""
        if self.funding_rate is None:
            return None
        return self.funding_rate * Decimal(hours) / Decimal(self.interval_hours)


@dataclass(frozen=True)
class PerpReading:
    observations: dict[str, PerpObservation] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PerpRequest:
    method: str  # GET / POST
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json_body: dict[str, Any] | None = None

    @property
    def content(self) -> bytes | None:
        return None if self.json_body is None else json.dumps(self.json_body).encode()


class PerpSource:
    """Base adapter: ``name``, ``quote``, ``interval_hours`` (the venue's funding interval),
    ``default_url``; subclasses implement ``request`` and ``entries`` / ``observation``."""

    name = "base"
    quote = "USD"
    interval_hours = 1
    default_url = ""

    def __init__(self, *, base_url: str | None = None, intervals: Mapping[str, int] | None = None) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.intervals = dict(intervals or {})  # instrument -> its own funding interval, where it differs

    def interval_of(self, instrument: str) -> int:
        return self.intervals.get(instrument, self.interval_hours)

    def intervals_request(self) -> PerpRequest | None:
        """The request listing the instruments whose funding interval is not ``interval_hours``
        (Binance's ``fundingInfo``), or ``None``: the venue has one interval."""
        return None

    def parse_intervals(self, *, status: int, body: bytes) -> dict[str, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def request(self, ids: Sequence[str]) -> PerpRequest:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, *, status: int, body: bytes, headers: dict[str, str], received_at: datetime,
              ids: Sequence[str]) -> PerpReading:  # fmt: skip
        """The answer to ``request(ids)``: an observation or a reason per id, or ``SourceError``."""
        if status in (418, 429):
            raise SourceRateLimited(
                f"HTTP {status} rate limited", retry_after=parse_retry_after(headers, received_at), http_status=status
            )
        if status >= 400:
            raise SourceError(f"HTTP {status}: {snippet(body)}", http_status=status)
        entries = self.entries(load_json(body))
        return per_instrument(ids, entries, lambda i, e: self.observation(i, e, received_at))

    def entries(self, payload: Any) -> Mapping[str, Any]:  # pragma: no cover - abstract
        """The answer's entries by instrument id (``SourceError`` when its shape is wrong)."""
        raise NotImplementedError

    def observation(self, instrument: str, entry: Any, received_at: datetime) -> PerpObservation:  # pragma: no cover
        raise NotImplementedError


def per_instrument(
    ids: Sequence[str], entries: Mapping[str, Any], build: Callable[[str, Any], PerpObservation]
) -> PerpReading:
    """An observation per requested id found in ``entries``; the reason for each other one."""
    observations, errors = each_instrument(ids, entries, build)
    return PerpReading(observations=observations, errors=errors)


def positive(raw: Any, what: str) -> Decimal:
    """A price: a finite Decimal above zero."""
    value = to_decimal(raw, what)
    if value <= 0:
        raise SourceError(f"{what} is not positive: {value}")
    return value


def optional_rate(raw: Any, what: str) -> Decimal | None:
    """A funding rate (any sign), or ``None`` when the venue sent none (``null`` / ``""``)."""
    if raw is None or raw == "":
        return None
    value = to_decimal(raw, what)
    if abs(value) >= 1:
        raise SourceError(f"{what} is not a plausible funding rate: {value}")
    return value


def by_key(payload: Any, key: str, venue: str) -> dict[str, Any]:
    """A list of objects keyed by their ``key`` string (entries without one are ignored)."""
    if not isinstance(payload, list):
        raise SourceError(f"{venue} response is not a list")
    return {e[key]: e for e in payload if isinstance(e, dict) and isinstance(e.get(key), str)}
