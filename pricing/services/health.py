"""Writes of per-source health (ops view of what each source last did, over every instrument)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F

from pricing.fetch import FetchResult
from pricing.models import SourceHealth
from pricing.sources import Observation

_PRICE_QUANTUM = Decimal("0.000000000001")
_PRICE_LIMIT = Decimal("1E+15")  # last_price is NUMERIC(30, 12); quantizing must stay within 28 digits


@dataclass(frozen=True)
class SourceOutcome:
    """A source's cycle over all its instruments: ``status`` (ok: some price used; rejected: it
    answered, every price refused; error / rate_limited / cooldown), the message (per-index
    problems, or the request's error), and the observation shown as its last price (the first
    index's, in registry order)."""

    status: str
    error: str = ""
    observation: Observation | None = None


def _storable_price(price: Decimal) -> Decimal | None:
    """The price as the column holds it, or ``None`` when it does not fit (a source said 1e30)."""
    if not price.is_finite() or abs(price) >= _PRICE_LIMIT:
        return None
    return price.quantize(_PRICE_QUANTUM)


def source_health_record(*, result: FetchResult, outcome: SourceOutcome, at: datetime) -> None:
    """Store one source's outcome of a cycle (success, sanity rejection, error, rate limit, cooldown)."""
    row, _ = SourceHealth.objects.get_or_create(name=result.source)
    fields: dict = {"last_latency_ms": result.latency_ms, "cooldown_until": result.cooldown_until}
    if result.reading is not None and outcome.observation is not None:
        obs = outcome.observation
        fields.update(last_price=_storable_price(obs.price), last_quote=obs.quote, last_source_time=obs.source_time)
    if outcome.status in ("ok", "rejected"):
        fields.update(last_status=outcome.status, last_success_at=at, successes=F("successes") + 1)
        if outcome.error:
            fields.update(last_error=outcome.error[:300], last_error_at=at)
    elif outcome.status == "cooldown":
        fields.update(last_status=SourceHealth.Status.COOLDOWN, last_latency_ms=None)
    else:
        status = SourceHealth.Status.RATE_LIMITED if outcome.status == "rate_limited" else SourceHealth.Status.ERROR
        fields.update(
            last_status=status, last_error=(outcome.error or result.error)[:300], last_error_at=at,
            failures=F("failures") + 1,
        )  # fmt: skip
    SourceHealth.objects.filter(pk=row.pk).update(**fields)
