"""Portfolio tasks: take ids, call one service, safe to rerun."""

from __future__ import annotations

from celery import shared_task

from portfolio.leaderboard import leaderboard_refresh
from portfolio.leaderboard_changes import leaderboard_update_changed
from portfolio.services.snapshots import equity_snapshot_take_all
from pricing.errors import PriceUnavailable


@shared_task(name="portfolio.equity_snapshot_take_all", ignore_result=True)
def equity_snapshot_take_all_task() -> int:
    return equity_snapshot_take_all()


@shared_task(name="portfolio.leaderboard_refresh", ignore_result=True)
def leaderboard_refresh_task() -> int:
    try:
        return leaderboard_refresh()
    except PriceUnavailable:
        return 0


@shared_task(name="portfolio.leaderboard_update_changed", ignore_result=True)
def leaderboard_update_changed_task() -> int:
    try:
        return leaderboard_update_changed()
    except PriceUnavailable:
        return 0
