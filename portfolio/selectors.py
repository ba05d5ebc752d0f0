"""Reads of money: summary, ledger entries, equity history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import DomainError
from core.money import PRICE_QUANT, usd
from portfolio.models import Asset, Balance, Epoch, EquitySnapshot, LedgerAccount, LedgerEntry, SpotHolding
from portfolio.positions import EMPTY, position_totals_get
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest

PERIODS = {
    "1D": timedelta(days=1),
    "1W": timedelta(days=7),
    "1M": timedelta(days=30),
    "3M": timedelta(days=90),
    "1A": timedelta(days=365),
    "all": None,
}
TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def account_get(*, user) -> LedgerAccount:
    account = LedgerAccount.objects.filter(user=user).first()
    if account is None:  # users created before the portfolio app existed
        from portfolio.services.accounts import account_open

        account = account_open(user=user)
    return account


def portfolio_summary_get(*, user) -> dict[str, Any]:
    """Balances, the SOL book valued at the current index, open positions, equity, PnL, fees and return.

    Equity = USD total (margin included) + SOL at the index + positions' unrealized PnL.
    Without a fresh price the valuation fields are ``null`` and ``price_status`` says why.
    """
    account = account_get(user=user)
    try:
        quote = price_get_latest()
        price, price_status, source = quote.price, "ok", quote.source_label
    except (PriceUnavailable, PriceStale) as exc:
        price, price_status, source = None, exc.code, None
    rows = {row.asset: row for row in Balance.objects.filter(account=account)}
    holding = SpotHolding.objects.get(account=account)
    epoch = Epoch.objects.get(account=account, number=account.epoch)

    def amounts(asset: str) -> dict[str, Decimal]:
        row = rows.get(asset)
        total, locked = (row.total, row.locked) if row else (Decimal(0), Decimal(0))
        return {"free": total - locked, "locked": locked, "total": total}

    cash = amounts(Asset.USD)["total"]
    perps = position_totals_get(account_ids=[account.pk], price=price).get(account.pk, EMPTY)
    avg_cost = (holding.cost_basis / holding.qty).quantize(PRICE_QUANT) if holding.qty else None
    market_value = unrealized = equity = ret = None
    if price is not None:
        market_value = usd(holding.qty * price)
        unrealized = usd(market_value - holding.cost_basis)
        equity = usd(cash + market_value + (perps.unrealized_pnl or 0))
        if epoch.starting_equity:
            ret = ((equity - epoch.starting_equity) / epoch.starting_equity).quantize(Decimal("0.000001"))
    return {
        "epoch": account.epoch,
        "epoch_started_at": _iso(epoch.started_at),
        "balances": {asset: amounts(asset) for asset in Asset.values},
        "price": price,
        "price_source": source,
        "price_status": price_status,
        "sol": {
            "qty": holding.qty,
            "avg_cost": avg_cost,
            "cost_basis": holding.cost_basis,
            "market_value": market_value,
            "unrealized_pnl": unrealized,
        },
        "positions": {
            "open_count": perps.open_count,
            "margin_used": usd(perps.margin),
            "free_margin": amounts(Asset.USD)["free"],
            "notional": None if price is None else usd(perps.notional),
            "unrealized_pnl": None if price is None else usd(perps.unrealized_pnl or Decimal(0)),
            "equity": None if price is None else usd(perps.margin + (perps.unrealized_pnl or Decimal(0))),
        },
        "cash": cash,
        "equity": equity,
        "starting_equity": epoch.starting_equity,
        "realized_pnl": holding.realized_pnl,
        "fees_paid": holding.fees_paid,
        "volume": holding.volume,
        "trade_count": holding.trade_count,
        "return": ret,
    }


def ledger_entry_list(
    *,
    user,
    asset: str | None = None,
    reason: str | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    qs = LedgerEntry.objects.filter(account__user=user).select_related("txn")
    if asset:
        qs = qs.filter(asset=asset)
    if reason:
        qs = qs.filter(txn__reason=reason)
    if after:
        qs = qs.filter(created_at__gt=after)
    if until:
        qs = qs.filter(created_at__lte=until)
    return qs


def portfolio_history_get(
    *, user, period: str = "1D", timeframe: str = "5Min", epoch: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Equity per timeframe bucket (the last snapshot in each) over ``period`` of one epoch."""
    account = account_get(user=user)
    number = epoch or account.epoch
    epoch_row = Epoch.objects.filter(account=account, number=number).first()
    if epoch_row is None:
        raise DomainError("No such epoch.", code="epoch_not_found", status=404, extra={"epoch": number})
    now = now or timezone.now()
    qs = EquitySnapshot.objects.filter(account=account, epoch=number).order_by("taken_at")
    window = PERIODS[period]
    if window is not None:
        qs = qs.filter(taken_at__gte=now - window)
    step = TIMEFRAMES[timeframe]
    buckets: dict[int, tuple[datetime, Decimal]] = {}
    for taken_at, equity in qs.values_list("taken_at", "equity").iterator():
        buckets[int(taken_at.timestamp()) // step] = (taken_at, equity)
    base = epoch_row.starting_equity
    points = [buckets[key] for key in sorted(buckets)]
    return {
        "epoch": number,
        "period": period,
        "timeframe": timeframe,
        "base_value": base,
        "timestamp": [_iso(t) for t, _ in points],
        "equity": [e for _, e in points],
        "profit_loss": [usd(e - base) for _, e in points],
        "profit_loss_pct": [((e - base) / base).quantize(Decimal("0.000001")) if base else None for _, e in points],
    }


def epoch_list(*, user) -> QuerySet[Epoch]:
    return Epoch.objects.filter(account=account_get(user=user)).order_by("number")
