"""Reads of money: summary, ledger entries, equity history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from core.errors import DomainError
from core.money import PRICE_QUANT, usd
from core.timefmt import iso_utc, iso_utc_or_none
from portfolio.assets import asset_marks, position_prices
from portfolio.errors import AccountNotOpen
from portfolio.models import Asset, Balance, Epoch, EquitySnapshot, LedgerAccount, LedgerEntry, SpotHolding
from portfolio.positions import EMPTY, PositionTotals, position_totals_get
from portfolio.valuation import equity_return, equity_value
from pricing.markets import registry_get
from pricing.selectors import PriceMark

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


def _amounts(row: Balance | None) -> dict[str, Decimal]:
    total, locked = (row.total, row.locked) if row else (Decimal(0), Decimal(0))
    return {"free": total - locked, "locked": locked, "total": total}


def _book(holding: SpotHolding, mark: PriceMark | None) -> dict[str, Any]:
    """One spot book valued at its index (the last known one, flagged ``stale``, when not fresh)."""
    value = None if mark is None else usd(holding.qty * mark.price)
    return {
        "qty": holding.qty,
        "avg_cost": (holding.cost_basis / holding.qty).quantize(PRICE_QUANT) if holding.qty else None,
        "cost_basis": holding.cost_basis,
        "market_value": value,
        "unrealized_pnl": None if value is None else usd(value - holding.cost_basis),
    }


def _holding_row(asset: str, balance: dict[str, Decimal], holding: SpotHolding, mark: PriceMark | None) -> dict:
    book = _book(holding, mark)
    return {
        "asset": asset,
        "market": f"{asset}-USD",
        "qty": balance["total"],
        "free": balance["free"],
        "locked": balance["locked"],
        "price": None if mark is None else mark.price,
        "value": book["market_value"],
        "avg_cost": book["avg_cost"],
        "cost_basis": holding.cost_basis,
        "unrealized_pnl": book["unrealized_pnl"],
        "realized_pnl": holding.realized_pnl,
        "fees_paid": holding.fees_paid,
        "stale": mark is None or mark.stale,
    }


def _positions(perps: PositionTotals, free_usd: Decimal) -> dict[str, Any]:
    valued = perps.unrealized_pnl is not None
    upnl = perps.unrealized_pnl or Decimal(0)
    return {
        "open_count": perps.open_count,
        "symbols": list(perps.symbols),
        "margin_used": usd(perps.margin),
        "free_margin": free_usd,
        "notional": usd(perps.notional) if valued and perps.notional is not None else None,
        "unrealized_pnl": usd(upnl) if valued else None,
        "equity": usd(perps.margin + upnl) if valued else None,
    }


def _books_get(user: User) -> tuple[LedgerAccount, Epoch]:
    """The user's account and current epoch in one statement (404 ``account_not_open``)."""
    epoch = Epoch.objects.select_related("account").filter(account__user=user, number=F("account__epoch")).first()
    if epoch is None:
        raise AccountNotOpen()
    return epoch.account, epoch


def _stale_symbols(marks: dict[str, PriceMark], held: list[str], perps: PositionTotals) -> list[str]:
    """The indexes this valuation used a stale (or no) price of: held tokens and open positions' markets."""
    wanted = {f"{asset}-USD" for asset in held}
    registry = registry_get()
    wanted |= {registry.markets[s].index_symbol for s in perps.symbols if s in registry.markets}
    fresh = {f"{asset}-USD" for asset, mark in marks.items() if not mark.stale}
    return sorted(wanted - fresh)


def portfolio_summary_get(*, user: User) -> dict[str, Any]:
    """Balances, every spot book valued at its own index, open positions, equity, PnL, fees, return.

    Each token is valued at its fresh index or, when that is stale or missing, its last one: the
    holding is flagged ``stale`` and ``valuation.stale_symbols`` names the indexes. Four
    statements: the books, the balances, the spot books, the open positions' totals; one cache
    round trip for every index.
    """
    account, epoch = _books_get(user)
    rows = {row.asset: row for row in Balance.objects.filter(account=account, shard=0)}
    books = {holding.asset: holding for holding in SpotHolding.objects.filter(account=account)}
    assets = sorted({Asset.USD, Asset.SOL, *rows, *books}, key=lambda a: (a != Asset.USD, a != Asset.SOL, a))
    balances = {asset: _amounts(rows.get(asset)) for asset in assets}
    marks = asset_marks(list(registry_get().tokens))
    prices = {asset: mark.price for asset, mark in marks.items()}
    perps = position_totals_get(account_ids=[account.pk], prices=position_prices(marks)).get(account.pk, EMPTY)
    held = [asset for asset in assets if asset != Asset.USD and (balances[asset]["total"] or asset in books)]
    holdings = [
        _holding_row(asset, balances[asset], books.get(asset) or SpotHolding(asset=asset), marks.get(asset))
        for asset in held
    ]
    cash = balances[Asset.USD]["total"]
    tokens = {asset: balances[asset]["total"] for asset in held}
    unpriced = [a for a, qty in tokens.items() if qty and a not in prices]
    equity = None
    if not unpriced and not (perps.open_count and perps.unrealized_pnl is None):  # never priced: no equity
        equity = equity_value(cash=cash, holdings=tokens, prices=prices, unrealized_pnl=perps.unrealized_pnl)
    stale = _stale_symbols(marks, [a for a in held if balances[a]["total"]], perps)
    sol = marks.get(Asset.SOL)
    totals = [books[asset] for asset in books]
    return {
        "epoch": account.epoch,
        "epoch_started_at": iso_utc_or_none(epoch.started_at),
        "balances": balances,
        "price": sol.price if sol else None,
        "price_status": "ok" if sol and not sol.stale else ("price_stale" if sol else "price_unavailable"),
        "sol": _book(books.get(Asset.SOL) or SpotHolding(asset=Asset.SOL), sol),
        "holdings": holdings,
        "positions": _positions(perps, balances[Asset.USD]["free"]),
        "cash": cash,
        "equity": equity,
        "valuation": {"stale": bool(stale), "stale_symbols": stale},
        "starting_equity": epoch.starting_equity,
        "realized_pnl": sum((h.realized_pnl for h in totals), Decimal(0)),
        "fees_paid": sum((h.fees_paid for h in totals), Decimal(0)),
        "volume": sum((h.volume for h in totals), Decimal(0)),
        "trade_count": sum(h.trade_count for h in totals),
        "return": None if equity is None else equity_return(equity=equity, start=epoch.starting_equity),
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


def equity_at(*, user: User, moment: datetime) -> Decimal | None:
    """The user's equity as last snapshotted at or before ``moment`` in the current epoch (``None``:
    no snapshot). One statement."""
    return (
        EquitySnapshot.objects.filter(account__user=user, epoch=F("account__epoch"), taken_at__lte=moment)
        .order_by("-taken_at")
        .values_list("equity", flat=True)
        .first()
    )


def asset_total_after(*, user_id: int, asset: str, txn_id: int) -> Decimal:
    """What ``user_id`` held of ``asset`` (every bucket) right after ledger transaction ``txn_id``:
    the sum of the ledger up to it. A user's transactions on one asset are serialised by the
    balance row's lock, so their ids are in commit order."""
    total = LedgerEntry.objects.filter(account__user_id=user_id, asset=asset, txn_id__lte=txn_id).aggregate(
        total=Sum("amount")
    )["total"]
    return total or Decimal(0)
