"""The tick gate: per index, a change is accepted at most every ``min_tick`` seconds and only when
the index moved; an unchanged index is accepted once every ``heartbeat`` seconds (its record's TTL
refreshed, the engines run). Django-free; times are ``time.monotonic()`` seconds."""

from __future__ import annotations

from decimal import Decimal


class TickGate:
    def __init__(self, *, min_tick: float, heartbeat: float) -> None:
        self.min_tick = min_tick
        self.heartbeat = max(heartbeat, min_tick)
        self.last: dict[str, tuple[float, Decimal]] = {}  # index -> (accepted at, price)

    def wait(self, symbol: str, now: float) -> float:
        """Seconds until a change of ``symbol`` may be accepted (0: now)."""
        last = self.last.get(symbol)
        return 0.0 if last is None else max(0.0, last[0] + self.min_tick - now)

    def heartbeat_due(self, symbol: str, now: float) -> bool:
        last = self.last.get(symbol)
        return last is None or now - last[0] >= self.heartbeat

    def decide(self, symbol: str, price: Decimal, now: float) -> bool:
        """Accept ``price`` now? Records it as accepted when so."""
        last = self.last.get(symbol)
        if last is not None:
            elapsed = now - last[0]
            moved = price != last[1]
            if not (moved and elapsed >= self.min_tick) and elapsed < self.heartbeat:
                return False
        self.last[symbol] = (now, price)
        return True
