"""The latest observation per (source, instrument), streamed or polled, and what one index reads.

A streamed entry is written by its connection; when the connection goes down its entries are
dropped at once (the fallback poller's answers replace them). A polled entry lives until the
source's next poll (a failed poll drops it, as the ingest would have no answer). Any entry older than
``max_age`` seconds (received) is not used: its reason says so. Django-free."""

from __future__ import annotations

from dataclasses import dataclass

from pricing.sources import Observation


@dataclass(frozen=True)
class Entry:
    observation: Observation
    origin: str  # "stream" or "poll"
    at: float  # time.monotonic() when received


class Book:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}

    def put(self, source: str, instrument: str, observation: Observation, *, origin: str, at: float) -> None:
        self.entries[(source, instrument)] = Entry(observation, origin, at)

    def drop(self, source: str, *, origin: str) -> None:
        for key in [k for k, e in self.entries.items() if k[0] == source and e.origin == origin]:
            del self.entries[key]

    def inputs(
        self, source_ids: dict[str, str], *, enabled: list[str], now: float, max_age: float
    ) -> tuple[list[Observation], dict[str, str]]:
        """One token's observations (``source_ids``: source -> its instrument id) from the enabled
        sources, and the reason for each listed source without a usable one."""
        observations: list[Observation] = []
        missing: dict[str, str] = {}
        for source in enabled:
            instrument = source_ids.get(source)
            if instrument is None:
                continue
            entry = self.entries.get((source, instrument))
            if entry is None:
                missing[source] = f"no {instrument} observation yet (stream down and not polled yet)"
            elif now - entry.at > max_age:
                missing[source] = f"{entry.origin} observation of {instrument} {now - entry.at:.0f}s old"
            else:
                observations.append(entry.observation)
        return observations, missing
