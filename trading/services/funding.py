"""Perp funding: at each funding time every open position of a perp market pays or receives
``qty x mark x rate``, the house its counterparty (docs/positions.md, "Funding").

``funding_settle(symbol=, funding_time=)`` settles one market at one funding time, once:

1. read the mark and the rate (``pricing.marks``: the venues' median rate, else the premium-index
   formula; clamped to ``FUNDING_RATE_CAP``) before any lock;
2. one durable transaction: claim the run (``INSERT ... ON CONFLICT DO NOTHING`` on the unique
   (symbol, funding time): a rerun, a second worker, a late beat find it and do nothing), lock
   the owners' USD rows (the global lock order), then ONE statement (``trading.funding_pg``) moves
   every payment: margins, accrued funding, liquidation prices, one ``funding`` ledger transaction
   per payment, the payment rows (UNIQUE (position, funding time)), the balances; the run's
   totals; ``funding_payment`` per payment and ``portfolio_update`` per account, stored with the
   users' next seqs and published after commit;
3. after commit, the positions the payment left crossed at the mark are liquidated by the
   liquidation engine's batch (``positions_liquidate``).

``funding_settle_due`` (beat, the embedded scheduler) settles each perp market's due times not yet
settled, oldest first: the latest, and each time missed since the market's last run (a stopped
worker, a late beat), once, late (``late`` set), at the mark and rate of the moment it settles
(no history of either is kept); missed times further back than ``FUNDING_CATCHUP_INTERVALS``
are recorded as ``skipped`` (never charged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from pricing.errors import PriceStale, PriceUnavailable
from pricing.markets import registry_get
from pricing.marks import FundingRate, PerpMark, funding_rate_for, perp_mark_get
from trading.funding_maths import Settle, Settled, funding_time_at_or_before
from trading.funding_payloads import funding_head
from trading.funding_pg import FundingStatements, funding_statements, run_claim, run_finish, system_rows_ensure
from trading.models import FundingRun, FundingRunStatus, Position, PositionStatus
from trading.perp_markets import perp_market_of
from trading.services.funding_events import funding_announce
from trading.services.liquidation import positions_liquidate_all

logger = logging.getLogger("trading.funding")
MAX_SKIPPED_RECORDED = 1000  # missed times recorded as skipped after a very long outage, at most


@dataclass
class FundingOutcome:
    symbol: str
    funding_time: datetime
    settled: bool = False  # False: another run settled (or skipped) this time already
    run_id: int | None = None
    rate: FundingRate | None = None
    late: bool = False
    payments: int = 0
    liquidated: list[str] = field(default_factory=list)


def funding_settle(
    *, symbol: str, funding_time: datetime, now: datetime | None = None, sql: FundingStatements | None = None
) -> FundingOutcome:
    """Settle the perp market ``symbol`` at ``funding_time`` (a funding time at or before now),
    once. Raises ``PriceUnavailable`` / ``PriceStale`` (nothing written: the next beat retries).
    ``sql``: the statement set (default: the connection's; tests run the ORM twin on PostgreSQL)."""
    now = now or datetime.now(timezone.utc)
    outcome = FundingOutcome(symbol=symbol, funding_time=funding_time)
    if funding_time > now:
        raise ValueError(f"funding time {funding_time.isoformat()} is in the future")
    market = perp_market_of(symbol)
    if not market.is_perp:
        raise ValueError(f"{symbol} is not a perp market")
    if FundingRun.objects.filter(symbol=symbol, funding_time=funding_time).exists():
        return outcome  # settled already (the claim below would say the same, under the lock)
    mark = perp_mark_get(symbol, now=now)
    rate = funding_rate_for(mark, interval_hours=settings.FUNDING_INTERVAL_HOURS, cap=settings.FUNDING_RATE_CAP)
    house_id, insurance_id = system_rows_ensure()
    outcome.rate, outcome.late = rate, now > funding_time + timedelta(seconds=settings.FUNDING_LATE_GRACE_SECONDS)
    sql = sql or funding_statements()
    with transaction.atomic(durable=True):
        outcome.run_id = run_claim(symbol=symbol, funding_time=funding_time, values=_run_values(mark, rate, outcome))
        if outcome.run_id is None:
            return outcome
        sql.owners_lock(symbol=symbol, funding_time=funding_time)
        settled = sql.settle(
            Settle(
                run_id=outcome.run_id,
                symbol=symbol,
                funding_time=funding_time,
                mark=mark.mark,
                rate=rate.rate,
                tick=market.price_tick,
                house_id=house_id,
                insurance_id=insurance_id,
                shards=max(1, settings.LEDGER_SYSTEM_SHARDS),
                now=now,
                head=funding_head(symbol=symbol, funding_time=funding_time, mark=mark.mark, rate=rate.rate),
            )  # fmt: skip
        )
        run_finish(run_id=outcome.run_id, settled_at=datetime.now(timezone.utc))
        funding_announce(settled)
    outcome.settled, outcome.payments = True, len(settled)
    outcome.liquidated = _liquidate_crossed(settled, symbol=symbol, price=mark.mark)
    logger.info(
        "funding %s @ %s: rate %s (%s%s), %d payments%s, %d liquidated",
        symbol, funding_time.isoformat(), rate.rate, rate.basis, ", capped" if rate.capped else "",
        len(settled), ", late" if outcome.late else "", len(outcome.liquidated),
    )  # fmt: skip
    return outcome


def _run_values(mark: PerpMark, rate: FundingRate, outcome: FundingOutcome) -> dict:
    return {
        "status": FundingRunStatus.SETTLED.value, "rate": rate.rate, "basis": rate.basis, "capped": rate.capped,
        "mark": mark.mark, "index_price": mark.index, "positions": 0, "paid_total": Decimal(0),
        "received_total": Decimal(0), "late": outcome.late, "started_at": datetime.now(timezone.utc),
    }  # fmt: skip


def _liquidate_crossed(settled: list[Settled], *, symbol: str, price: Decimal) -> list[str]:
    """The positions a payment left past their liquidation price at the mark: the liquidation
    engine's batches (each re-checked under its lock)."""
    ids = [s.position_id for s in settled if s.crossed]
    if not ids:
        return []
    return positions_liquidate_all(ids=ids, price=price, computed_at=None, symbols=[symbol])


def funding_settle_due(*, now: datetime | None = None) -> list[FundingOutcome]:
    """Each perp market's (``_funded_markets``) due funding times not yet settled
    (``funding_times_due``), oldest first, each once (late past the grace). A market without a
    fresh price waits for the next beat (its later times too); a failure on one market never holds
    back the others."""
    now = now or datetime.now(timezone.utc)
    latest = funding_time_at_or_before(now, interval_hours=settings.FUNDING_INTERVAL_HOURS)
    symbols = _funded_markets()
    done = set(FundingRun.objects.filter(funding_time=latest, symbol__in=symbols).values_list("symbol", flat=True))
    out: list[FundingOutcome] = []
    for symbol in symbols:
        if symbol in done:
            continue
        for funding_time in funding_times_due(symbol=symbol, latest=latest):
            try:
                outcome = funding_settle(symbol=symbol, funding_time=funding_time, now=now)
            except (PriceUnavailable, PriceStale) as exc:
                _log_wait(symbol, funding_time, exc.code)
                break
            except Exception:
                logger.exception("funding of %s @ %s failed", symbol, funding_time.isoformat())
                break
            out.append(outcome)
    return out


_waits_said: dict[str, tuple[datetime, str]] = {}  # per market: the wait last logged as a warning


def _log_wait(symbol: str, funding_time: datetime, code: str) -> None:
    """A warning the first time a funding time waits for a price (for that reason), then debug at
    each beat (every 30 s) until it settles or the reason changes."""
    level = logging.DEBUG if _waits_said.get(symbol) == (funding_time, code) else logging.WARNING
    _waits_said[symbol] = (funding_time, code)
    logger.log(level, "funding of %s @ %s waits: %s", symbol, funding_time.isoformat(), code)


def funding_times_due(*, symbol: str, latest: datetime) -> list[datetime]:
    """The funding times of ``symbol`` to settle, oldest first: those after its last run up to
    ``latest`` (only ``latest`` for a market never funded), at most ``FUNDING_CATCHUP_INTERVALS``
    + 1; the missed ones before those are recorded as ``skipped`` runs (never charged; the newest
    ``MAX_SKIPPED_RECORDED`` of them after a very long outage)."""
    last = FundingRun.objects.filter(symbol=symbol, funding_time__lt=latest).aggregate(t=Max("funding_time"))["t"]
    if last is None:
        return [latest]
    step = timedelta(hours=max(1, settings.FUNDING_INTERVAL_HOURS))
    keep = max(0, settings.FUNDING_CATCHUP_INTERVALS)
    missed: list[datetime] = []
    t = latest - step
    while t > last and len(missed) < keep + MAX_SKIPPED_RECORDED:
        missed.append(t)
        t -= step
    dropped = missed[keep:]
    if dropped:
        now = datetime.now(timezone.utc)
        FundingRun.objects.bulk_create(
            [FundingRun(symbol=symbol, funding_time=t, status=FundingRunStatus.SKIPPED, started_at=now, settled_at=now)
             for t in dropped],
            ignore_conflicts=True,
        )  # fmt: skip
    return [*reversed(missed[:keep]), latest]


def _funded_markets() -> list[str]:
    """Every listed perp market (active or halted), and a delisted one while positions are open on
    it (they pay until closed): a delisted market without any has no price to wait for."""
    markets = [m for m in registry_get().markets.values() if m.is_perp]
    delisted = [m.symbol for m in markets if not m.listed]
    held = set(
        Position.objects.filter(status=PositionStatus.OPEN, symbol__in=delisted).values_list("symbol", flat=True)
    ) if delisted else set()  # fmt: skip
    return sorted(m.symbol for m in markets if m.listed or m.symbol in held)
