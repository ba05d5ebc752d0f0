"""The one time formatter keeps each caller's precision (API/events/logs: microseconds only when
present; price records: always six digits; SIWS messages: milliseconds, as wallets write them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.timefmt import iso_utc, iso_utc_or_none

MOMENT = datetime(2026, 12, 7, 4, 11, 19, 123456, tzinfo=timezone.utc)
WHOLE = MOMENT.replace(microsecond=0)


def test_auto_shows_microseconds_only_when_there_are_some():
    assert iso_utc(MOMENT) == "2026-12-07T04:11:19.123456Z"
    assert iso_utc(WHOLE) == "2026-12-07T04:11:19Z"


def test_microseconds_are_always_six_digits():
    assert iso_utc(WHOLE, timespec="microseconds") == "2026-12-07T04:11:19.000000Z"


def test_milliseconds_truncate_like_javascripts_toisostring():
    assert iso_utc(MOMENT, timespec="milliseconds") == "2026-12-07T04:11:19.123Z"
    assert iso_utc(MOMENT.replace(microsecond=999999), timespec="milliseconds") == "2026-12-07T04:11:19.999Z"


def test_other_offsets_are_converted_to_utc():
    paris = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert iso_utc(paris) == "2026-12-07T04:11:19.123456Z"


def test_unset_times_stay_none():
    assert iso_utc_or_none(None) is None
    assert iso_utc_or_none(WHOLE) == "2026-12-07T04:11:19Z"
