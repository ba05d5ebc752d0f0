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


def test_an_index_without_a_price_is_warned_when_it_starts_not_at_every_frame():
    """Info during the service's startup; then a warning when a lapse starts or its kind of reason
    changes, debug while the same kind goes on (its numbers moving every frame), again a warning
    after REPEAT_SECONDS; a price clears it."""
    from pricing.streams.lapses import REPEAT_SECONDS, LapseLog, reason_kind

    assert reason_kind("0 of 2 required sources usable (pyth: stale)") == "0 of 2 required sources usable"
    assert reason_kind("sources disagree: coinbase 100, kraken 103.9 are 3.8254% apart") == "sources disagree"
    lapses = LapseLog(started=0.0, startup_seconds=12)
    disagree = "sources disagree: coinbase {}, kraken 103.9 are {}% apart"
    levels = [
        lapses.level("SOL-USD", "0 of 2 required sources usable (pyth: no observation yet)", 1.0),
        lapses.level("SOL-USD", disagree.format("100", "3.8"), 13.0),
        lapses.level("SOL-USD", disagree.format("100.2", "3.6"), 13.25),
        lapses.level("JUP-USD", disagree.format("1", "3"), 13.5),  # another index: its own
        lapses.level("SOL-USD", "1 of 2 required sources usable (kraken: stale)", 14.0),  # a new kind
        lapses.level("SOL-USD", "1 of 2 required sources usable (kraken: stale, 2)", 14.0 + REPEAT_SECONDS),
    ]
    assert levels == [logging.INFO, logging.WARNING, logging.DEBUG, logging.WARNING, logging.WARNING, logging.WARNING]
    assert lapses.cleared("SOL-USD") and not lapses.cleared("SOL-USD")
    assert lapses.level("SOL-USD", disagree.format("100", "3.8"), 80.0) == logging.WARNING
