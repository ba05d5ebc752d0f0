"""Writes of per-source health (ops view of what each source last did)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import F

from pricing.fetch import FetchResult
from pricing.models import SourceHealth

_PRICE_QUANTUM = Decimal("0.000000000001")
_PRICE_LIMIT = Decimal("1E+15")  # last_price is NUMERIC(30, 12); quantizing must stay within 28 digits


def _storable_price(price: Decimal) -> Decimal | None:
    """The price as the column holds it, or ``None`` when it does not fit (a source said 1e30)."""
    if not price.is_finite() or abs(price) >= _PRICE_LIMIT:
        return None
    return price.quantize(_PRICE_QUANTUM)


def source_health_record(*, result: FetchResult, rejected_reason: str | None, at: datetime) -> None:
    """Store one source's outcome of a cycle (success, sanity rejection, error, rate limit, cooldown)."""
    row, _ = SourceHealth.objects.get_or_create(name=result.source)
    fields: dict = {"last_latency_ms": result.latency_ms, "cooldown_until": result.cooldown_until}
    if result.status == "ok" and result.reading is not None:
        obs = result.reading.observation
        fields.update(
            last_price=_storable_price(obs.price),
            last_quote=obs.quote,
            last_source_time=obs.source_time,
            last_success_at=at,
            successes=F("successes") + 1,
        )
        if rejected_reason:
            fields.update(last_status=SourceHealth.Status.REJECTED, last_error=rejected_reason[:300], last_error_at=at)
        else:
            fields.update(last_status=SourceHealth.Status.OK)
    elif result.status == "cooldown":
        fields.update(last_status=SourceHealth.Status.COOLDOWN, last_latency_ms=None)
    else:
        fields.update(
            last_status=SourceHealth.Status.RATE_LIMITED
            if result.status == "rate_limited"
            else SourceHealth.Status.ERROR,
            last_error=result.error[:300],
            last_error_at=at,
            failures=F("failures") + 1,
        )
    SourceHealth.objects.filter(pk=row.pk).update(**fields)
