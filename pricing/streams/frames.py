"""What a venue's stream parser returns and raises (Django-free).

A parser turns one frame (a WebSocket text message, an SSE event's data) into a ``Frame``:
observations per instrument id, whether the frame confirms the subscription, stablecoin rates.
A frame it cannot use raises ``FrameError`` (malformed: counted, and after
``PRICE_STREAM_MAX_BAD_FRAMES`` in a row the connection is renewed); a frame that says the
venue refused the subscription raises ``SubscriptionRefused`` (the connection is renewed with
backoff and the source is polled meanwhile).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from pricing.perp_sources.base import PerpObservation
from pricing.sources.base import Observation, SourceError, short


class FrameError(Exception):
    """A frame the parser cannot use (not JSON, wrong shape, a bad number)."""


class SubscriptionRefused(Exception):
    """The venue answered the subscription with an error."""


@dataclass(frozen=True)
class Frame:
    updates: dict[str, Observation] = field(default_factory=dict)  # instrument id -> observation
    acked: bool = False  # confirms the subscription (an ack, or the first data)
    stable_rates: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, PerpObservation] = field(default_factory=dict)  # a venue's perp id -> its mark


IGNORED = Frame()


def load_frame(raw: str | bytes) -> Any:
    """JSON with every number a Decimal (never a binary float); ``FrameError`` otherwise."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        text = raw if isinstance(raw, str) else raw[:60].decode("utf-8", "replace")
        raise FrameError(f"not JSON: {short(text, 60)}") from exc


T = TypeVar("T")


def guarded(build: Callable[[], T], what: str) -> T:
    """Run ``build()``; any ``SourceError`` (a bad number, a bad time) becomes ``FrameError``."""
    try:
        return build()
    except SourceError as exc:
        raise FrameError(f"{what}: {exc.message}") from exc
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise FrameError(f"{what}: unexpected shape ({type(exc).__name__}: {short(str(exc))})") from exc


def from_micros(raw: Any, what: str) -> datetime:
    """Unix microseconds (a number or a string of digits, as Backpack sends) as aware UTC."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit():
        raise FrameError(f"{what} is not unix microseconds: {short(raw)}")
    try:
        return datetime.fromtimestamp(int(raw) / 1_000_000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise FrameError(f"{what} out of range: {short(raw)}") from exc


class StreamProtocol:
    """One venue's stream: ``subscribe_frames`` for a set of instrument ids, ``parse`` per frame.
    Subclasses set ``name`` (the source's name in ``PRICE_SOURCES``) and ``quote``."""

    name = "base"
    quote = "USD"

    def __init__(self, url: str) -> None:
        self.url = url

    def subscribe_frames(self, ids: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, raw: str | bytes, *, received_at: datetime) -> Frame:  # pragma: no cover - abstract
        raise NotImplementedError


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))
