"""How the stream service logs an index without a price, so a lapse is said, not flooded: the
reason's numbers change with every frame (``sources disagree: coinbase 100.01, kraken 103.9 are
3.8254% apart``), and an index is evaluated up to four times a second.

A warning when the lapse starts or its kind of reason changes (the text before its details), and
at most every ``REPEAT_SECONDS`` while it lasts; debug in between. During the service's first
seconds (its streams connecting, its first poll pending: every index lacks sources) it is info,
and the first lapse after them is a warning. The summary in Redis keeps every reason."""

from __future__ import annotations

import logging
import re

REPEAT_SECONDS = 60.0
_DETAILS = re.compile(r"[:(]")


def reason_kind(reason: str) -> str:
    """``0 of 2 required sources usable (pyth: ...)`` -> ``0 of 2 required sources usable``."""
    return _DETAILS.split(reason, maxsplit=1)[0].strip()


class LapseLog:
    def __init__(self, *, started: float, startup_seconds: float) -> None:
        self.startup_until = started + startup_seconds
        self.said: dict[str, tuple[str, float]] = {}  # index -> (kind, when) of its last warning

    def level(self, index: str, reason: str, now: float) -> int:
        if now < self.startup_until:
            return logging.INFO
        kind = reason_kind(reason)
        last = self.said.get(index)
        if last is not None and last[0] == kind and now - last[1] < REPEAT_SECONDS:
            return logging.DEBUG
        self.said[index] = (kind, now)
        return logging.WARNING

    def cleared(self, index: str) -> bool:
        """The index has a price again; ``True`` when its lapse had been warned."""
        return self.said.pop(index, None) is not None
