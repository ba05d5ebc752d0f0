"""What one ingest cycle did, per index and per source: the report ``price_ingest_run`` returns,
each source's outcome for its health row, and the summary kept as ``pricing:ingest:last``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.timefmt import iso_utc
from pricing.aggregate import IndexPrice
from pricing.fetch import FetchResult
from pricing.selectors import DEFAULT_INDEX, PriceQuote
from pricing.services.health import SourceOutcome
from pricing.sources import Observation


@dataclass
class IndexReport:
    """One token's index in this cycle: its inputs, and its price or why there is none."""

    symbol: str  # the index symbol, SOL-USD
    mode: str  # live / replay / synthetic (in replay mode only the tape's index is "replay")
    quorum: int
    markets: list[str]  # the listed markets trading on this index
    observations: dict[str, Observation] = field(default_factory=dict)  # source -> what it said
    failed: dict[str, str] = field(default_factory=dict)  # source -> why it gave no observation
    index: IndexPrice | None = None
    quote: PriceQuote | None = None
    reason: str = ""
    rejected: dict[str, str] = field(default_factory=dict)  # source -> why not used (failed + aggregation)

    @property
    def ok(self) -> bool:
        return self.quote is not None

    def source_status(self, result: FetchResult | None, source: str) -> str:
        if source in self.failed:
            return result.status if result is not None and result.reading is None else "error"
        return "rejected" if source in self.rejected else "ok"


@dataclass
class IngestReport:
    mode: str
    at: datetime
    results: list[FetchResult] = field(default_factory=list)
    indexes: dict[str, IndexReport] = field(default_factory=dict)
    skipped: bool = False
    skip_reason: str = ""

    @property
    def ok(self) -> bool:
        """Every index got its price this cycle."""
        return bool(self.indexes) and all(index.ok for index in self.indexes.values())

    @property
    def quotes(self) -> dict[str, PriceQuote]:
        return {symbol: index.quote for symbol, index in self.indexes.items() if index.quote is not None}

    @property
    def reason(self) -> str:
        """Why some indexes got no price (``SYM: no price: …`` each), or why the cycle was skipped."""
        if self.skipped:
            return self.skip_reason
        if not self.indexes:
            return "no listed market"
        return "; ".join(f"{s}: {index.reason}" for s, index in self.indexes.items() if not index.ok)


def source_outcomes(report: IngestReport) -> dict[str, SourceOutcome]:
    """Each polled source's outcome over every index it was asked for: ``ok`` when any of its
    prices was used, else ``rejected`` (answered, refused by the checks) or ``error``; the message
    lists the per-index problems (``BONK-USD: error: … absent …``)."""
    outcomes = {}
    for result in report.results:
        if result.reading is None:
            outcomes[result.source] = SourceOutcome(status=result.status, error=result.error)
            continue
        statuses, problems, first = [], [], None
        for index in report.indexes.values():
            if result.source not in index.observations and result.source not in index.failed:
                continue
            status = index.source_status(result, result.source)
            statuses.append(status)
            first = first or index.observations.get(result.source)
            if why := index.rejected.get(result.source):
                problems.append(f"{index.symbol}: {why}")
        status = "ok" if "ok" in statuses else ("rejected" if "rejected" in statuses else "error")
        if result.status == "rate_limited":
            status = "rate_limited"
        message = "; ".join(problems) if result.status != "rate_limited" else result.error
        outcomes[result.source] = SourceOutcome(status=status, error=message[:300], observation=first)
    return outcomes


def _index_summary(report: IngestReport, index: IndexReport) -> dict:
    results = {r.source: r for r in report.results}
    sources = {}
    for name in [*index.observations, *index.failed]:
        result = results.get(name)
        obs = index.observations.get(name)
        sources[name] = {
            "status": index.source_status(result, name),
            "price": str(obs.price) if obs is not None else None,
            "error": index.rejected.get(name, ""),
            "latency_ms": result.latency_ms if result is not None else None,
        }
    return {
        "ok": index.ok,
        "reason": index.reason,
        "price": str(index.quote.price) if index.quote else None,
        "mode": index.mode,
        "quorum": index.quorum,
        "markets": index.markets,
        "sources": sources,
    }


def ingest_summary(report: IngestReport, outcomes: dict[str, SourceOutcome]) -> dict:
    """``pricing:ingest:last``: the cycle, each index (``indexes``) and each source (``sources``).
    ``price`` is SOL-USD's, as before markets were many."""
    default = report.indexes.get(DEFAULT_INDEX)
    return {
        "at": iso_utc(report.at, timespec="microseconds"),
        "mode": report.mode,
        "ok": report.ok,
        "reason": report.reason,
        "price": str(default.quote.price) if default is not None and default.quote else None,
        "indexes": {symbol: _index_summary(report, index) for symbol, index in report.indexes.items()},
        "sources": {
            r.source: {
                "status": outcomes[r.source].status,
                "error": outcomes[r.source].error,
                "latency_ms": r.latency_ms,
                "requests": r.requests,
            }
            for r in report.results
        },
    }
