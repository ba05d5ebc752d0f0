"""The liquidation engine: on every accepted tick, liquidate the positions whose liquidation
price the tick crossed, at the tick's price (docs/positions.md).

* Gate: never on a stale price. The tick's own ``computed_at`` must be within
  ``PRICE_STALE_SECONDS`` and ``price_get_latest()`` must answer (pricing is live).
* Candidates: one indexed query on ``(status, side, liquidation_price)``: open longs with
  ``liquidation_price >= P`` and open shorts with ``liquidation_price <= P`` (two index range
  scans, never a scan of all positions).
* Each batch of up to ``POSITION_LIQUIDATION_BATCH`` candidates is one durable transaction:
  lock the owners' USD balance rows (one statement, by id), then the positions (one
  statement, by id), re-check each is still open and still crossed at ``P`` (a user's close
  or another engine run may have won), post one ``liquidation`` ledger transaction per
  position (``ledger_post_many``), mark them liquidated through ``position_transition``,
  record the history row, store ``position_liquidated`` and one ``portfolio_update`` per
  account (``user_events_emit_many``: same seq/storage contract as ``user_event_emit``,
  published on commit in one event-loop run). If a batch fails, its positions are retried one per transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F

from portfolio.events import portfolio_update_data
from portfolio.leaderboard import leaderboard_touch_many_on_commit
from portfolio.models import Asset, Balance, LedgerAccount, LedgerReason, SpotHolding
from portfolio.positions import EMPTY, position_totals_get
from portfolio.services import Leg, Posting, balance_lock, ledger_post_many, system_account_get
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest
from trading.events import position_liquidated_data, user_events_emit_many
from trading.margin import is_crossed, plan_liquidation
from trading.models import Position, PositionEvent, PositionEventKind, PositionSide, PositionStatus
from trading.services.positions import position_transition

logger = logging.getLogger("trading.liquidation")


@dataclass
class LiquidationReport:
    price: Decimal
    candidates: int = 0
    liquidated: list[str] = field(default_factory=list)
    skipped: str | None = None  # "price_stale" / "price_unavailable" when the gate refused


def liquidation_candidates(*, price: Decimal) -> list:
    """Ids of crossed open positions, as a UNION of the two indexed range queries."""
    open_long = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.LONG, liquidation_price__gte=price
    ).values_list("id", flat=True)
    open_short = Position.objects.filter(
        status=PositionStatus.OPEN, side=PositionSide.SHORT, liquidation_price__lte=price
    ).values_list("id", flat=True)
    return sorted(open_long.union(open_short, all=True))


def price_gate(*, computed_at: datetime, now: datetime | None = None) -> str | None:
    """``None`` when the tick may liquidate, else the reason it may not."""
    age = ((now or datetime.now(timezone.utc)) - computed_at).total_seconds()
    if age > settings.PRICE_STALE_SECONDS or age < -5:
        return "price_stale"
    try:
        price_get_latest(now=now)
    except PriceStale:
        return "price_stale"
    except PriceUnavailable:
        return "price_unavailable"
    return None


def liquidation_run(*, price: Decimal, computed_at: datetime, now: datetime | None = None) -> LiquidationReport:
    """Liquidate every position the tick ``price`` (computed at ``computed_at``) crossed."""
    report = LiquidationReport(price=price)
    report.skipped = price_gate(computed_at=computed_at, now=now)
    if report.skipped:
        logger.warning("liquidation skipped at %s: %s", price, report.skipped)
        return report
    ids = liquidation_candidates(price=price)
    report.candidates = len(ids)
    size = max(1, settings.POSITION_LIQUIDATION_BATCH)
    for start in range(0, len(ids), size):
        report.liquidated += positions_liquidate(ids=ids[start : start + size], price=price, computed_at=computed_at)
    if report.liquidated:
        logger.info("liquidated %d of %d candidates at %s", len(report.liquidated), len(ids), price)
    return report


def positions_liquidate(*, ids: list, price: Decimal, computed_at: datetime | None = None) -> list[str]:
    """Liquidate those of ``ids`` still open and crossed at ``price``; returns the liquidated ids."""
    if not ids:
        return []
    try:
        return _liquidate_batch(ids=ids, price=price, computed_at=computed_at)
    except Exception:
        if len(ids) == 1:
            raise
        logger.exception("liquidation batch of %d failed; retrying one by one", len(ids))
    done: list[str] = []
    for position_id in ids:
        try:
            done += _liquidate_batch(ids=[position_id], price=price, computed_at=computed_at)
        except Exception:
            logger.exception("liquidation of position %s failed", position_id)
    return done


def _liquidate_batch(*, ids: list, price: Decimal, computed_at: datetime | None) -> list[str]:
    account_ids = set(Position.objects.filter(pk__in=ids, status=PositionStatus.OPEN).values_list("account", flat=True))
    if not account_ids:
        return []
    accounts = {a.pk: a for a in LedgerAccount.objects.filter(pk__in=account_ids)}
    house, insurance = system_account_get(code="house"), system_account_get(code="insurance")
    with transaction.atomic(durable=True):
        balance_lock(keys=[(account, Asset.USD, 0) for account in accounts.values()])
        locked = Position.objects.select_for_update(of=("self",)).filter(pk__in=ids, status=PositionStatus.OPEN)
        crossed = [p for p in locked.order_by("pk") if is_crossed(p.side, p.liquidation_price, price)]
        if not crossed:
            return []
        plans = [
            plan_liquidation(side=p.side, entry=p.entry_price, qty=p.qty, margin=p.margin, price=price) for p in crossed
        ]
        postings = [
            Posting(
                reason=LedgerReason.LIQUIDATION,
                legs=[
                    Leg(accounts[p.account_id], Asset.USD, -plan.margin, bucket="locked"),
                    Leg(house, Asset.USD, -plan.pnl),
                    Leg(insurance, Asset.USD, plan.insurance),
                ],
                reference_type="position",
                reference_id=str(p.id),
                memo=f"liquidation of {p.side} {p.qty} SOL-PERP @ {price} (liq {p.liquidation_price})",
                shard_key=p.user_id,
            )
            for p, plan in zip(crossed, plans, strict=True)
        ]
        txns = ledger_post_many(postings=postings)
        now = datetime.now(timezone.utc)
        for position in crossed:
            position_transition(position, PositionStatus.LIQUIDATED)
            position.closed_at = position.updated_at = now
            position.exit_price = price
            position.realized_pnl -= position.margin
        Position.objects.filter(pk__in=[p.pk for p in crossed]).update(
            status=PositionStatus.LIQUIDATED,
            closed_at=now,
            updated_at=now,
            exit_price=price,
            realized_pnl=F("realized_pnl") - F("margin"),
        )
        PositionEvent.objects.bulk_create(
            [
                PositionEvent(
                    position=p,
                    kind=PositionEventKind.LIQUIDATION,
                    qty=p.qty,
                    price=price,
                    index_price=price,
                    margin=plan.margin,
                    realized_pnl=-plan.margin,
                    insurance=plan.insurance,
                    liquidation_price=p.liquidation_price,
                    price_computed_at=computed_at,
                    ledger_txn=txn,
                    created_at=now,
                )
                for p, plan, txn in zip(crossed, plans, txns, strict=True)
            ]
        )
        events = [
            (
                p.user_id,
                "position_liquidated",
                position_liquidated_data(
                    position=p, price=price, pnl=plan.pnl, insurance=plan.insurance, computed_at=computed_at
                ),
            )
            for p, plan in zip(crossed, plans, strict=True)
        ]
        touched = {p.account_id: accounts[p.account_id] for p in crossed}
        events += _portfolio_updates(accounts=touched)
        user_events_emit_many(events)
        leaderboard_touch_many_on_commit(account_ids=list(touched))
    return [str(p.id) for p in crossed]


def _portfolio_updates(*, accounts: dict[int, LedgerAccount]) -> list[tuple[int, str, dict]]:
    """One ``portfolio_update`` per account touched, from three reads for the whole batch."""
    balances: dict[int, list[Balance]] = defaultdict(list)
    for row in Balance.objects.filter(account_id__in=list(accounts)):
        balances[row.account_id].append(row)
    holdings = {h.account_id: h for h in SpotHolding.objects.filter(account_id__in=list(accounts))}
    totals = position_totals_get(account_ids=list(accounts), price=None)
    return [
        (
            account.user_id,
            "portfolio_update",
            portfolio_update_data(
                account,
                balances=balances[account_id],
                holding=holdings.get(account_id),
                positions=totals.get(account_id, EMPTY),
            ),
        )
        for account_id, account in accounts.items()
        if account.user_id
    ]
