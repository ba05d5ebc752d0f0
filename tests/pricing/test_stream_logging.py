"""A venue unreachable for an hour must not flood the log: a stream's failure is a warning when it
drops or fails for a new reason, the same failure again is debug, with a warning every
``REPEAT_WARNING_EVERY`` attempts (the health record keeps every failure)."""

from __future__ import annotations

import logging

from pricing.streams import connection
from pricing.streams.connection import Lifecycle, Timing

TIMING = Timing(connect=1, subscribe=1, ping=1, stale=1, backoff_base=0.1, backoff_max=1, max_bad=3)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pricing.streams" and r.levelno >= logging.WARNING]


def test_the_same_failure_again_is_quiet_until_every_nth_attempt(caplog, monkeypatch):
    monkeypatch.setattr(connection, "REPEAT_WARNING_EVERY", 5)
    stream = Lifecycle("kraken", ["SOL/USD"], url="wss://ws.kraken.com/v2", sink=None, timing=TIMING)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="pricing.streams"):
        for _ in range(11):
            stream._log_down("gaierror: name not known", 1.0, was_live=False)
        stream._log_down("connect timed out", 1.0, was_live=False)  # a new reason: said at once
        stream._log_down("connect timed out", 1.0, was_live=False)
        stream._log_down("connect timed out", 1.0, was_live=True)  # it had come back, then dropped
    assert _warnings(caplog) == [
        "stream kraken down (gaierror: name not known); reconnecting in 1.00s",
        "stream kraken still down after 5 attempts (gaierror: name not known); reconnecting in 1.00s",
        "stream kraken still down after 10 attempts (gaierror: name not known); reconnecting in 1.00s",
        "stream kraken down (connect timed out); reconnecting in 1.00s",
        "stream kraken down (connect timed out); reconnecting in 1.00s",
    ]
    debug = [r for r in caplog.records if r.name == "pricing.streams" and r.levelno == logging.DEBUG]
    assert len(debug) == 14 - 5
