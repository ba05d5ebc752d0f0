"""The leaderboard follows the ledger on a timer: a fill queues no task, and the periodic update
(``portfolio.leaderboard_changes``, called here as beat would) rewrites exactly the rows of the
accounts that changed (real PostgreSQL and Redis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from portfolio.leaderboard import leaderboard_list
from portfolio.leaderboard_changes import LOCK_KEY, WATERMARK_KEY, leaderboard_update_changed
from portfolio.tasks import leaderboard_update_changed_task
from tests.portfolio.helpers import assert_books_ok, authed_client, make_user
from tests.trading.helpers import clear_price, order_body, set_price

pytestmark = pytest.mark.django_db


def _buy(user, cid: str, qty: str = "10") -> None:
    response = authed_client(user).post("/api/v1/orders", order_body(qty=qty, client_order_id=cid), format="json")
    assert response.status_code == 201, response.json()


def _equity(user) -> Decimal:
    """The trader's equity as the public leaderboard shows it."""
    trader = f"{user.address[:4]}…{user.address[-4:]}"
    (row,) = [r for r in leaderboard_list(period="all", metric="equity", limit=1000) if r["trader"] == trader]
    return Decimal(row["equity"])


def _summary_equity(user) -> Decimal:
    return Decimal(authed_client(user).get("/api/v1/portfolio").json()["equity"])


@pytest.mark.parametrize("embedded", [False, True])
def test_a_fill_queues_no_task_and_shows_once_the_periodic_update_runs(
    settings, embedded, tasks_sent, django_capture_on_commit_callbacks
):
    """A market order sends no Celery message (not even on commit); the board keeps the trader's old
    row until the periodic update, which rewrites it to the equity the portfolio shows (Redis sorted
    sets, and embedded mode: computed from the database and cached, the cache cleared by the update)."""
    if embedded:
        settings.REDIS_URL = ""
    set_price(Decimal("100"))
    buyer, other = make_user(), make_user()
    leaderboard_update_changed()  # no watermark yet: the whole board, then where the ledger ends
    assert _equity(buyer) == _equity(other) == Decimal("10000")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _buy(buyer, "lb-1")
    assert callbacks and tasks_sent == []
    assert _equity(buyer) == Decimal("10000")  # not yet: no per-fill refresh
    assert leaderboard_update_changed() == 1
    assert _equity(buyer) == _summary_equity(buyer) < Decimal("10000")  # the fee and the spread
    assert _equity(other) == Decimal("10000")
    assert leaderboard_update_changed() == 0  # nothing new
    assert_books_ok()


def test_a_run_takes_at_most_the_cap_oldest_change_first(settings):
    """With ``LEADERBOARD_UPDATE_MAX_ACCOUNTS`` = 1, two traders who filled are rewritten one per
    run, the earlier fill first; a third run finds nothing."""
    settings.LEADERBOARD_UPDATE_MAX_ACCOUNTS = 1
    set_price(Decimal("100"))
    first, second = make_user(), make_user()
    leaderboard_update_changed()
    _buy(first, "cap-1")
    _buy(second, "cap-2")
    assert leaderboard_update_changed() == 1
    assert _equity(first) == _summary_equity(first) and _equity(second) == Decimal("10000")
    assert leaderboard_update_changed() == 1
    assert _equity(second) == _summary_equity(second)
    assert leaderboard_update_changed() == 0


def test_without_a_price_the_update_waits_and_catches_up(settings):
    """No price: the task writes nothing and keeps its place in the ledger; the first run with a
    price rewrites the row of the fill made before."""
    set_price(Decimal("100"))
    buyer = make_user()
    leaderboard_update_changed()
    watermark = cache.get(WATERMARK_KEY)
    _buy(buyer, "np-1")
    clear_price()
    assert leaderboard_update_changed_task() == 0
    assert cache.get(WATERMARK_KEY) == watermark
    set_price(Decimal("100"))
    assert leaderboard_update_changed_task() == 1
    assert _equity(buyer) == _summary_equity(buyer)


def test_runs_never_overlap():
    """While another run holds the lock, a run does nothing and leaves the watermark alone."""
    set_price(Decimal("100"))
    buyer = make_user()
    leaderboard_update_changed()
    watermark = cache.get(WATERMARK_KEY)
    _buy(buyer, "ov-1")
    assert cache.add(LOCK_KEY, 1)
    assert leaderboard_update_changed() == 0 and cache.get(WATERMARK_KEY) == watermark
    cache.delete(LOCK_KEY)
    assert leaderboard_update_changed() == 1


def test_the_beat_entry_runs_the_update_every_interval(settings):
    """Beat (and the in-process scheduler, which reads the same schedule) runs the update every
    ``LEADERBOARD_UPDATE_SECONDS``; the task is registered under the entry's name."""
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["portfolio-leaderboard-update"]
    assert entry["schedule"] == settings.LEADERBOARD_UPDATE_SECONDS == 2
    assert entry["options"]["expires"] == 2
    assert entry["task"] == leaderboard_update_changed_task.name and entry["task"] in app.tasks
