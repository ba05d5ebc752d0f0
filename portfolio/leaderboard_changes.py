"""The leaderboard follows the ledger on a timer, not a task per fill.

Every ``LEADERBOARD_UPDATE_SECONDS`` (a beat entry; the in-process scheduler in embedded mode)
``leaderboard_update_changed`` rewrites the rows of the user accounts whose ledger changed since
its last run, read from the ledger itself: every change of a trader's money is a ledger entry
(fills, position opens and closes, resets, grants, adjustments), and entries' ids only grow. One
statement finds them (``id`` above the stored watermark, on the primary key), then one
``leaderboard_refresh`` rewrites them all. A fill therefore costs no Celery message and no Redis
call; the board shows it within one interval (plus the run's own time).

* Liquidations included: the engine queues no refresh of its own. A big tick's accounts come in
  runs of at most ``LEADERBOARD_UPDATE_MAX_ACCOUNTS`` (~0.3 ms of CPU each), so one run never
  holds a worker for long while the tick's lanes may still be running.
* A run refreshes at most ``LEADERBOARD_UPDATE_MAX_ACCOUNTS`` accounts, those whose last change is
  oldest; the watermark then stops at the last of those, so the rest come in the next run.
* Ids are taken at insert and transactions commit in any order: an entry whose transaction was
  still open (a few milliseconds, between a fill's ledger insert and its COMMIT) when a run read
  where the ledger ended is below the watermark that run stores, and no later run sees it. That
  account's row is then written by the full rebuild (``LEADERBOARD_REFRESH_SECONDS``) or by its
  next change, whichever comes first: the staleness bound for that case.
* No price (``PriceUnavailable``): nothing is written and the watermark stays, so the next run
  with a price catches up.

The watermark and a lock (runs never overlap) live in the Django cache: Redis in the real stack,
the process's memory in embedded mode (where the one scheduler runs in the web process). Without
a watermark (first run, cache flushed) a run rebuilds the whole board, as the periodic rebuild
does, and starts from where the ledger ended before it read.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max

from portfolio.leaderboard import leaderboard_refresh
from portfolio.models import LedgerAccount, LedgerEntry

WATERMARK_KEY = "leaderboard:ledger_watermark"
LOCK_KEY = "leaderboard:update_lock"
LOCK_SECONDS = 120  # a run that died holding the lock (process killed) blocks the others this long


def _ledger_end() -> int:
    return LedgerEntry.objects.aggregate(end=Max("id"))["end"] or 0


def changed_accounts(*, after: int, upto: int, limit: int) -> tuple[list[int], int]:
    """User accounts with a ledger entry in ``(after, upto]``, the oldest last change first, at most
    ``limit``; and how far that covers: ``upto`` when all are in, else the last change of the last
    account listed (every entry up to it belongs to a listed account or to one changed later)."""
    rows = list(
        LedgerEntry.objects.filter(id__gt=after, id__lte=upto, account__kind=LedgerAccount.Kind.USER)
        .values("account_id")
        .annotate(last=Max("id"))
        .order_by("last")
        .values_list("account_id", "last")[:limit]
    )
    covered = rows[-1][1] if len(rows) == limit else upto
    return [account_id for account_id, _last in rows], covered


def leaderboard_update_changed() -> int:
    """Rewrite the leaderboard rows of the accounts changed since the last run; returns how many
    accounts were refreshed (0 when another run holds the lock or nothing changed).
    ``PriceUnavailable`` propagates (the task swallows it); the watermark is then left as it was."""
    if not cache.add(LOCK_KEY, 1, timeout=LOCK_SECONDS):
        return 0
    try:
        watermark = cache.get(WATERMARK_KEY)
        end = _ledger_end()
        if watermark is None or watermark > end:  # first run, cache flushed, or a ledger restored
            refreshed = leaderboard_refresh()
            cache.set(WATERMARK_KEY, end, timeout=None)
            return refreshed
        accounts, covered = changed_accounts(
            after=watermark, upto=end, limit=max(1, settings.LEADERBOARD_UPDATE_MAX_ACCOUNTS)
        )
        if accounts:
            leaderboard_refresh(account_ids=accounts)
        cache.set(WATERMARK_KEY, covered, timeout=None)
        return len(accounts)
    finally:
        cache.delete(LOCK_KEY)
