"""Portfolio tasks: take ids, call one service, safe to rerun."""

from __future__ import annotations

from celery import shared_task

from portfolio.leaderboard import (
    LEADERBOARD_UPDATE_ACCOUNT_TASK,
    LEADERBOARD_UPDATE_ACCOUNTS_TASK,
    leaderboard_refresh,
)
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


@shared_task(name=LEADERBOARD_UPDATE_ACCOUNT_TASK, ignore_result=True)
def leaderboard_update_account(account_id: int) -> int:
    try:
        return leaderboard_refresh(account_ids=[account_id])
    except PriceUnavailable:
        return 0


@shared_task(name=LEADERBOARD_UPDATE_ACCOUNTS_TASK, ignore_result=True)
def leaderboard_update_accounts(account_ids: list[int]) -> int:
    try:
        return leaderboard_refresh(account_ids=account_ids)
    except PriceUnavailable:
        return 0
