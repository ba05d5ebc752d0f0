"""Leaderboard: computed from PostgreSQL, cached in Redis sorted sets.

Equity = USD (margin included) + SOL at the index + open positions' unrealized PnL
(``portfolio.valuation.equity_value``, as in the summary and the equity snapshots).

A period (``all`` / ``24h`` / ``7d``) is ranked across resets: every epoch inside it counts,
chain-linked (``portfolio/ranking.py``), so a reset never improves a place. Per period:

* ``equity`` -- ``all``: the starting equity grown by every epoch's result (what an account that
  never reset would hold); ``24h``/``7d``: the USD result over the period on that same basis.
* ``return`` -- the chain-linked return over the period.

Rows also carry ``resets`` (the account's number of resets). Real stack:
``leaderboard:<period>:<metric>`` sorted sets plus a ``leaderboard:rows`` hash, rebuilt by the
periodic task, updated every few seconds for the accounts whose ledger changed (fills, positions,
liquidations: ``portfolio.leaderboard_changes``, no task per change) and after a reset (at once,
on commit). Embedded mode (no Redis): computed from the database on
read and kept a few seconds in the Django cache, which those updates clear.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, OuterRef, Q, Subquery, When
from django.utils import timezone

from core.money import dec_str, shorten_address
from core.redis import redis_available, redis_client
from portfolio.assets import asset_marks, perp_marks_of
from portfolio.models import Asset, Balance, Epoch, EquitySnapshot, LedgerAccount
from portfolio.positions import EMPTY, position_totals_get
from portfolio.ranking import Segment, chain
from portfolio.valuation import equity_value
from pricing.errors import PriceUnavailable
from pricing.markets import registry_get

logger = logging.getLogger(__name__)

PERIODS = {"all": None, "24h": timedelta(hours=24), "7d": timedelta(days=7)}
METRICS = ("equity", "return")
ROWS_KEY = "leaderboard:rows"
EMBEDDED_CACHE_KEY = "leaderboard:embedded:{period}:{metric}"


def _set_key(period: str, metric: str) -> str:
    return f"leaderboard:{period}:{metric}"


def marks_get() -> dict[str, Decimal]:
    """Every token's index, even stale (a ranking is not a trade: the last price known), by
    asset; ``PriceUnavailable`` when no token was ever priced."""
    return valuation_get()[0]


def valuation_get() -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """``marks_get()`` and each perp market's mark from the same records (positions at mark)."""
    marks = asset_marks(list(registry_get().tokens))
    if not marks:
        raise PriceUnavailable(retry_after=2)
    return {asset: mark.price for asset, mark in marks.items()}, perp_marks_of(marks)


def _epochs(account_ids: list[int] | None, now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Every epoch of the accounts, oldest first, with what the periods need: for an ended epoch
    without a final equity (older rows) its last snapshot; per window, for the epoch that was live
    when the window began, its first snapshot inside the window (the window's base)."""
    snapshots = EquitySnapshot.objects.filter(account=OuterRef("account_id"), epoch=OuterRef("number"))
    last = snapshots.order_by("-taken_at").values("equity")[:1]
    annotations: dict[str, Any] = {
        "close": Case(When(Q(ended_at__isnull=False, final_equity__isnull=True), then=Subquery(last)))
    }
    for period, window in PERIODS.items():
        if window is not None:
            first = snapshots.filter(taken_at__gte=now - window).order_by("taken_at").values("equity")[:1]
            annotations[f"first_{period}"] = Case(When(started_at__lt=now - window, then=Subquery(first)))
    epochs = Epoch.objects.filter(account__kind=LedgerAccount.Kind.USER)
    if account_ids is not None:
        epochs = epochs.filter(account_id__in=account_ids)
    rows = (
        epochs.annotate(**annotations)
        .order_by("account_id", "number")
        .values("account_id", "starting_equity", "started_at", "ended_at", "final_equity", *annotations)
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row["account_id"]].append(row)
    return out


def _first_known(*values: Decimal | None) -> Decimal:
    return next(value for value in values if value is not None)


def _segments(epochs: list[dict[str, Any]], equity: Decimal, period: str, since: datetime | None) -> list[Segment]:
    """The period's segments: one per epoch that was live at some time after ``since``."""
    segments = []
    for epoch in epochs:
        if epoch["ended_at"] is None:
            end = equity
        elif since is not None and epoch["ended_at"] < since:
            continue
        else:  # a reset always records the final equity; older rows fall back to the last snapshot
            end = _first_known(epoch["final_equity"], epoch["close"], epoch["starting_equity"])
        start = epoch["starting_equity"]
        if since is not None and epoch["started_at"] < since:
            first = epoch[f"first_{period}"]
            start = end if first is None else first  # no snapshot inside the window: flat
        segments.append(Segment(start=start, end=end))
    return segments


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """The refresh's reads see one state (PostgreSQL: a REPEATABLE READ, READ ONLY transaction), so
    a reset committing between two of them never pairs the old epoch with the new balances."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _rows(*, account_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Per account: cumulative equity, resets and, per period, chain-linked pnl and return (strings)."""
    prices, perp_marks = valuation_get()
    with _one_snapshot():
        return _rows_read(account_ids, prices, timezone.now(), perp_marks=perp_marks)


def _trader_name(account: LedgerAccount) -> str:
    user = account.user
    return (user.address or user.username) if user is not None else account.code


def _rows_read(
    account_ids: list[int] | None,
    prices: dict[str, Decimal],
    now: datetime,
    *,
    perp_marks: dict[str, Decimal] | None = None,
) -> list[dict[str, Any]]:
    listed = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.USER, user__is_staff=False)
    if account_ids is not None:
        listed = listed.filter(pk__in=account_ids)
    accounts = list(listed.select_related("user").only("pk", "epoch", "user__address", "user__username"))
    ids = [a.pk for a in accounts]
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for balance in Balance.objects.filter(account__in=ids).values("account_id", "asset", "total"):
        totals[balance["account_id"]][balance["asset"]] = balance["total"]
    index_prices = {f"{asset}-USD": price for asset, price in prices.items()}
    perps = position_totals_get(account_ids=ids, prices={**index_prices, **(perp_marks or {})})
    epochs = _epochs(None if account_ids is None else ids, now)
    out = []
    for account in accounts:
        books = totals[account.pk]
        equity = equity_value(
            cash=books.get(Asset.USD, Decimal(0)),
            holdings={asset: total for asset, total in books.items() if asset != Asset.USD},
            prices=prices,
            unrealized_pnl=perps.get(account.pk, EMPTY).unrealized_pnl,
        )
        row: dict[str, Any] = {
            "account_id": account.pk,
            "trader": shorten_address(_trader_name(account)),
            "resets": account.epoch - 1,
        }
        for period, window in PERIODS.items():
            result = chain(_segments(epochs[account.pk], equity, period, None if window is None else now - window))
            if window is None:
                row["equity"] = dec_str(result.equity)
            row[f"pnl_{period}"] = dec_str(result.pnl)
            row[f"return_{period}"] = dec_str(result.ret)
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


def leaderboard_update_on_commit(*, account_id: int) -> None:
    """After the reset commits, rewrite this account's rows at once, in the committing thread: the
    reset's response is sent only after the ranking shows it (a reset is rare; other changes wait
    for ``leaderboard_changes``, a few seconds). A failure here (Redis, no price) never fails the
    committed reset; the periodic update or rebuild writes the row then."""

    def update() -> None:
        try:
            leaderboard_refresh(account_ids=[account_id])
        except PriceUnavailable:
            pass
        except Exception:
            logger.warning("leaderboard update after reset failed (account %s)", account_id, exc_info=True)

    transaction.on_commit(update)


def _public(rank: int, row: dict[str, Any], period: str) -> dict[str, Any]:
    return {
        "rank": rank,
        "trader": row["trader"],
        "equity": row["equity"],
        "pnl": row[f"pnl_{period}"],
        "return": row[f"return_{period}"],
        "resets": row.get("resets", 0),  # rows written before the field existed: until the next refresh
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
    raw = client.hmget(ROWS_KEY, cast(list[bytes], members))
    rows = [json.loads(item) for item in raw if item]
    rows.sort(key=lambda r: (-Decimal(_score(r, period, metric)), r["account_id"]))
    return [_public(i + 1, row, period) for i, row in enumerate(rows)]
