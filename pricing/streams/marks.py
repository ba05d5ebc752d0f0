"""Venue perp marks at stream speed: Backpack's ``markPrice.<SYMBOL>`` frames (``pricing.streams.
backpack``) relayed into the venue's stored answer (``pricing.services.venue_perps``), where each
index tick reads the marks (``pricing.venue_marks``). The poll of the venues keeps running every
``PERP_POLL_INTERVAL_SECONDS``; per market the newer observation wins, so while the stream is live
a tick's Backpack mark is at most ~1 s old instead of up to 5 s.

The service's loop hands each frame's marks to ``take`` (no I/O); its housekeeping ``drain``s them
once a second and ``write``s them on the writer thread (one read and one write per venue)."""

from __future__ import annotations

from datetime import datetime, timezone

from django.conf import settings

from pricing.markets import registry_get
from pricing.perp_sources.base import PerpObservation
from pricing.services.venue_perps import venue_answer_merge, venue_marks_stored, venue_perps_last

MARK_STREAM_VENUES = ("backpack",)  # venues whose stream carries perp marks on the index's connection


def marks_perp_ids(current: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Venue -> {its perp id: our perp symbol} of the listed perps, for the venues that stream marks
    and are enabled as perp venues (``PERP_VENUES``), and only the perps the venues' last poll
    found there (``venue_perps_last``): a stream the venue does not have could make it refuse the
    whole subscription, the index's instruments with it. A venue whose last poll failed keeps
    ``current``'s set (a failed poll found nothing, and changing the set reconnects the stream).
    Django work: the writer thread."""
    out: dict[str, dict[str, str]] = {}
    polled = (venue_perps_last() or {}).get("venues") or {}
    venues = [v for v in MARK_STREAM_VENUES if v in settings.PERP_VENUES]
    for venue in venues:
        answer = polled.get(venue) or {}
        if answer.get("status") != "ok" and current and venue in current:
            out[venue] = dict(current[venue])
            continue
        found = set(answer.get("markets") or [])
        for market in registry_get().markets.values():
            instrument = market.venue_ids.get(venue) if market.is_perp and market.listed else None
            if instrument and market.symbol in found:
                out.setdefault(venue, {})[instrument] = market.symbol
    return out


class MarkRelay:
    def __init__(self) -> None:
        self.perp_ids: dict[str, dict[str, str]] = {}
        self.pending: dict[str, dict[str, PerpObservation]] = {}
        self.relayed = 0

    def ids_for(self, venue: str) -> list[str]:
        """The perp ids the venue's connection subscribes to besides its index instruments."""
        return sorted(self.perp_ids.get(venue, {}))

    def take(self, venue: str, marks: dict[str, PerpObservation]) -> None:
        known = self.perp_ids.get(venue, {})
        for instrument, mark in marks.items():
            if instrument in known:
                self.pending.setdefault(venue, {})[instrument] = mark

    def drain(self) -> dict[str, list[PerpObservation]]:
        drained = {venue: list(marks.values()) for venue, marks in self.pending.items() if marks}
        self.pending = {}
        return drained

    def write(self, drained: dict[str, list[PerpObservation]]) -> None:
        now = datetime.now(timezone.utc)
        for venue, marks in drained.items():
            stored = venue_marks_stored(marks, self.perp_ids.get(venue, {}))
            if stored:
                venue_answer_merge(venue, stored, now)
                self.relayed += len(stored)
