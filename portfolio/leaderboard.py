"""Leaderboard: computed from PostgreSQL, cached in Redis sorted sets.

Equity = USD (margin included) + SOL at the index + open positions' unrealized PnL.

Scores (per period ``all`` / ``24h`` / ``7d``, current epoch only):

* ``equity`` -- ``all``: current equity; ``24h``/``7d``: equity change (USD) over the period.
* ``return`` -- (equity now - base) / base, where base is the starting equity (``all``) or the
  first snapshot inside the period (the starting equity if the epoch began inside it).

Real stack: ``leaderboard:<period>:<metric>`` sorted sets plus a ``leaderboard:rows`` hash,
rebuilt by the periodic task and updated per account after each fill. Embedded mode (no
Redis): computed from the database on read and kept a few seconds in the Django cache.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from config.redis import redis_available, redis_client
from portfolio.models import Asset, Balance, Epoch, EquitySnapshot, LedgerAccount
from portfolio.money import dec_str, shorten_address, usd
from portfolio.positions import EMPTY, position_totals_get
from pricing.errors import PriceUnavailable
from pricing.selectors import price_latest_record

PERIODS = {"all": None, "24h": timedelta(hours=24), "7d": timedelta(days=7)}
METRICS = ("equity", "return")
ROWS_KEY = "leaderboard:rows"
EMBEDDED_CACHE_KEY = "leaderboard:embedded:{period}:{metric}"


def _set_key(period: str, metric: str) -> str:
    return f"leaderboard:{period}:{metric}"


def _mark_price() -> Decimal:
    """The latest index, even slightly stale (a ranking is not a trade)."""
    record = price_latest_record()
    if not record:
        raise PriceUnavailable(retry_after=2)
    return Decimal(record["price"])


def _rows(*, account_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Per account: equity and, per period, base equity -> pnl and return (strings)."""
    price, now = _mark_price(), timezone.now()
    accounts = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.USER, user__is_staff=False)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    current_epoch = Epoch.objects.filter(account=OuterRef("pk"), number=OuterRef("epoch"))
    accounts = accounts.annotate(
        start_equity=Subquery(current_epoch.values("starting_equity")[:1]),
        started_at=Subquery(current_epoch.values("started_at")[:1]),
    )
    for period, window in PERIODS.items():
        if window is None:
            continue
        first = EquitySnapshot.objects.filter(
            account=OuterRef("pk"), epoch=OuterRef("epoch"), taken_at__gte=now - window
        ).order_by("taken_at")
        accounts = accounts.annotate(**{f"base_{period}": Subquery(first.values("equity")[:1])})
    accounts = list(accounts.select_related("user"))
    totals: dict[tuple[int, str], Decimal] = {}
    for row in Balance.objects.filter(account__in=[a.pk for a in accounts]).values("account_id", "asset", "total"):
        totals[(row["account_id"], row["asset"])] = row["total"]
    perps = position_totals_get(account_ids=[a.pk for a in accounts], price=price)
    out = []
    for account in accounts:
        upnl = perps.get(account.pk, EMPTY).unrealized_pnl or 0
        cash, sol = totals.get((account.pk, Asset.USD), Decimal(0)), totals.get((account.pk, Asset.SOL), 0)
        equity = usd(cash + sol * price + upnl)
        start = account.start_equity or Decimal(0)
        row: dict[str, Any] = {
            "account_id": account.pk,
            "trader": shorten_address(account.user.address or account.user.username),
            "equity": dec_str(equity),
        }
        for period, window in PERIODS.items():
            base = start
            if window is not None and account.started_at and account.started_at < now - window:
                base = getattr(account, f"base_{period}") or equity
            pnl = equity - base
            row[f"pnl_{period}"] = dec_str(usd(pnl))
            row[f"return_{period}"] = dec_str((pnl / base).quantize(Decimal("0.000001")) if base else Decimal(0))
        out.append(row)
    return out


def _score(row: dict[str, Any], period: str, metric: str) -> str:
    if metric == "return":
        return row[f"return_{period}"]
    return row["equity"] if period == "all" else row[f"pnl_{period}"]


def leaderboard_refresh(*, account_ids: list[int] | None = None) -> int:
    """Rebuild (or, given ``account_ids``, update) the Redis sorted sets; returns rows written."""
    if not redis_available():
        cache.delete_many([EMBEDDED_CACHE_KEY.format(period=p, metric=m) for p in PERIODS for m in METRICS])
        return 0
    rows = _rows(account_ids=account_ids)
    client = redis_client()
    pipe = client.pipeline(transaction=True)
    if account_ids is None:
        pipe.delete(ROWS_KEY, *[_set_key(p, m) for p in PERIODS for m in METRICS])
    for row in rows:
        pipe.hset(ROWS_KEY, str(row["account_id"]), json.dumps(row))
        for period in PERIODS:
            for metric in METRICS:
                pipe.zadd(_set_key(period, metric), {str(row["account_id"]): _score(row, period, metric)})
    pipe.execute()
    return len(rows)


def leaderboard_touch_on_commit(*, account_id: int) -> None:
    """After the fill commits, refresh this account's leaderboard entries (a task in the real stack)."""

    def touch() -> None:
        from portfolio.tasks import leaderboard_update_account

        try:
            leaderboard_update_account.delay(account_id)
        except Exception:  # a broker hiccup never fails a committed fill
            pass

    transaction.on_commit(touch)


def leaderboard_touch_many_on_commit(*, account_ids: list[int]) -> None:
    """One task for many accounts (the liquidation engine's lanes), run
    ``LEADERBOARD_TOUCH_MANY_DELAY_SECONDS`` later: a big tick's lanes end at slightly different
    times, and the first lane's refresh (~0.3 s of CPU for 1,000 accounts) would otherwise take a
    core from the lanes still liquidating. The leaderboard is a ranking refreshed every
    ``LEADERBOARD_REFRESH_SECONDS`` anyway; liquidations come first."""

    def touch() -> None:
        from portfolio.tasks import leaderboard_update_accounts

        try:
            leaderboard_update_accounts.apply_async(
                (account_ids,), countdown=settings.LEADERBOARD_TOUCH_MANY_DELAY_SECONDS
            )
        except Exception:
            pass

    if account_ids:
        transaction.on_commit(touch)


def _public(rank: int, row: dict[str, Any], period: str) -> dict[str, Any]:
    return {
        "rank": rank,
        "trader": row["trader"],
        "equity": row["equity"],
        "pnl": row[f"pnl_{period}"],
        "return": row[f"return_{period}"],
    }


def leaderboard_list(*, period: str, metric: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Top ``limit`` traders, best first; ties broken by account age."""
    limit = limit or settings.LEADERBOARD_SIZE
    if not redis_available():
        key = EMBEDDED_CACHE_KEY.format(period=period, metric=metric)
        rows = cache.get(key)
        if rows is None:
            rows = sorted(_rows(), key=lambda r: (-Decimal(_score(r, period, metric)), r["account_id"]))
            cache.set(key, rows, timeout=5)
        return [_public(i + 1, row, period) for i, row in enumerate(rows[:limit])]
    client = redis_client()
    if not client.exists(_set_key(period, metric)):
        leaderboard_refresh()
    members = client.zrevrange(_set_key(period, metric), 0, limit - 1)
    if not members:
        return []
    raw = client.hmget(ROWS_KEY, members)
    rows = [json.loads(item) for item in raw if item]
    rows.sort(key=lambda r: (-Decimal(_score(r, period, metric)), r["account_id"]))
    return [_public(i + 1, row, period) for i, row in enumerate(rows)]
