"""What the stream service last did for each index, as ``pricing:ingest:last`` (the shape the
ingest's summary has: ``GET /api/v1/market/sources``' ``last_cycle`` and a 503's ``reason`` read
it), written once a second while the beat ingest steps aside. Django-free apart from the cache."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.timefmt import iso_utc
from pricing.aggregate import IndexPrice
from pricing.selectors import DEFAULT_INDEX
from pricing.sources import Observation


def index_outcome(
    *, price: IndexPrice | None, reason: str, observations: list[Observation], rejected: Mapping[str, str],
    quorum: int, markets: list[str], origins: Mapping[str, str],
) -> dict:  # fmt: skip
    """One index's evaluation: its price or why none, and each source's part (``via``: stream or poll)."""
    used = set(price.sources) if price is not None else set()
    sources = {
        obs.source: {
            "status": "ok" if obs.source in used else "rejected", "price": str(obs.price),
            "error": rejected.get(obs.source, ""), "latency_ms": None, "via": origins.get(obs.source, ""),
        }
        for obs in observations
    }  # fmt: skip
    for name, why in rejected.items():
        sources.setdefault(name, {"status": "error", "price": None, "error": why, "latency_ms": None, "via": ""})
    return {
        "ok": price is not None, "reason": "" if price is not None else f"no price: {reason}",
        "price": str(price.price) if price is not None else None, "mode": "live", "quorum": quorum,
        "markets": markets, "sources": sources,
    }  # fmt: skip


def stream_summary(*, at: datetime, indexes: Mapping[str, dict], streams: Mapping[str, dict]) -> dict:
    failing = [f"{symbol}: {index['reason']}" for symbol, index in indexes.items() if not index["ok"]]
    default = indexes.get(DEFAULT_INDEX) or {}
    return {
        "at": iso_utc(at, timespec="microseconds"), "mode": "live", "by": "streams", "ok": not failing,
        "reason": "; ".join(failing), "price": default.get("price"), "indexes": dict(indexes),
        "sources": {
            name: {"status": "ok" if s["state"] == "live" else "error", "error": s["last_error"] if s["state"] != "live"
                   else "", "latency_ms": None, "requests": 0, "stream": s["state"]}
            for name, s in streams.items()
        },
    }  # fmt: skip
