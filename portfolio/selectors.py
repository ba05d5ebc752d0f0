"""Reads of money: summary, ledger entries, equity history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, QuerySet
from django.utils import timezone

from core.errors import DomainError
from core.money import PRICE_QUANT, usd
from core.timefmt import iso_utc, iso_utc_or_none
from portfolio.errors import AccountNotOpen
from portfolio.models import Asset, Balance, Epoch, EquitySnapshot, LedgerAccount, LedgerEntry, SpotHolding
from portfolio.positions import EMPTY, PositionTotals, position_totals_get
from portfolio.valuation import equity_return, equity_value, sol_value
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import price_get_latest

if TYPE_CHECKING:
    from accounts.models import User

PERIODS = {
    "1D": timedelta(days=1),
    "1W": timedelta(days=7),
    "1M": timedelta(days=30),
    "3M": timedelta(days=90),
    "1A": timedelta(days=365),
    "all": None,
}
TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}


def account_get(*, user: User) -> LedgerAccount:
    """The user's books. A read never opens them: a user without books (every user created through
    the sign-in service or ``create_user`` has them) is 404 ``account_not_open``."""
    account = LedgerAccount.objects.filter(user=user).first()
    if account is None:
        raise AccountNotOpen()
    return account


def _quote() -> tuple[Decimal | None, str, str | None]:
    """The index, its status and its source; no price (``None``) when it is missing or stale."""
    try:
        quote = price_get_latest()
    except (PriceUnavailable, PriceStale) as exc:
        return None, exc.code, None
    return quote.price, "ok", quote.source_label


def _amounts(row: Balance | None) -> dict[str, Decimal]:
    total, locked = (row.total, row.locked) if row else (Decimal(0), Decimal(0))
    return {"free": total - locked, "locked": locked, "total": total}


def _sol_book(holding: SpotHolding, price: Decimal | None) -> dict[str, Decimal | None]:
    market_value = None if price is None else sol_value(qty=holding.qty, price=price)
    return {
        "qty": holding.qty,
        "avg_cost": (holding.cost_basis / holding.qty).quantize(PRICE_QUANT) if holding.qty else None,
        "cost_basis": holding.cost_basis,
        "market_value": market_value,
        "unrealized_pnl": None if market_value is None else usd(market_value - holding.cost_basis),
    }


def _positions(perps: PositionTotals, free_usd: Decimal, price: Decimal | None) -> dict[str, Any]:
    valued = price is not None
    upnl = perps.unrealized_pnl or Decimal(0)
    return {
        "open_count": perps.open_count,
        "margin_used": usd(perps.margin),
        "free_margin": free_usd,
        "notional": usd(perps.notional) if valued and perps.notional is not None else None,
        "unrealized_pnl": usd(upnl) if valued else None,
        "equity": usd(perps.margin + upnl) if valued else None,
    }


def _books_get(user: User) -> tuple[LedgerAccount, SpotHolding, Epoch]:
    """The user's account, SOL book and current epoch in one statement (404 ``account_not_open``)."""
    epoch = (
        Epoch.objects.select_related("account__spot_holding")
        .filter(account__user=user, number=F("account__epoch"))
        .first()
    )
    if epoch is None:
        raise AccountNotOpen()
    return epoch.account, epoch.account.spot_holding, epoch


def portfolio_summary_get(*, user: User) -> dict[str, Any]:
    """Balances, the SOL book valued at the current index, open positions, equity, PnL, fees and return.

    Equity and return are ``portfolio.valuation``'s. Without a fresh price the valuation fields
    are ``null`` and ``price_status`` says why. Three statements: the books, the balances, the
    open positions' totals.
    """
    account, holding, epoch = _books_get(user)
    price, price_status, source = _quote()
    rows = {row.asset: row for row in Balance.objects.filter(account=account)}
    balances = {asset: _amounts(rows.get(asset)) for asset in Asset.values}
    perps = position_totals_get(account_ids=[account.pk], price=price).get(account.pk, EMPTY)
    cash, sol_qty = balances[Asset.USD]["total"], balances[Asset.SOL]["total"]
    equity = ret = None
    if price is not None:
        equity = equity_value(cash=cash, sol_qty=sol_qty, price=price, unrealized_pnl=perps.unrealized_pnl)
        ret = equity_return(equity=equity, start=epoch.starting_equity)
    return {
        "epoch": account.epoch,
        "epoch_started_at": iso_utc_or_none(epoch.started_at),
        "balances": balances,
        "price": price,
        "price_source": source,
        "price_status": price_status,
        "sol": _sol_book(holding, price),
        "positions": _positions(perps, balances[Asset.USD]["free"], price),
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
    user: User,
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
    *, user: User, period: str = "1D", timeframe: str = "5Min", epoch: int | None = None, now: datetime | None = None
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
        "timestamp": [iso_utc(t) for t, _ in points],
        "equity": [e for _, e in points],
        "profit_loss": [usd(e - base) for _, e in points],
        "profit_loss_pct": [equity_return(equity=e, start=base) for _, e in points],
    }
