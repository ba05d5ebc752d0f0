"""Reconnect delays: capped exponential with full jitter (AWS architecture blog's "full jitter":
a uniform draw in ``[0, min(cap, base * 2**attempt)]``), so many clients dropped at once do not
reconnect in lockstep; ``reset`` after a connection that stayed up."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, *, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = max(0.001, base)
        self.cap = max(self.base, cap)
        self.attempt = 0
        self.rng = rng or random.Random()

    def ceiling(self) -> float:
        return min(self.cap, self.base * (2 ** min(self.attempt, 30)))

    def next(self) -> float:
        """The next delay (seconds); each call raises the ceiling until the cap."""
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
