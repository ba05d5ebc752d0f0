"""Lanes: how a big tick is split so worker processes can liquidate at the same time without
sharing a locked row, when the engine splits at all, and what a lane does on its own.
(The split running on real Celery workers: tests/proof/test_liquidation_fanout.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu.exceptions import OperationalError

from portfolio.services.ledger import system_shard
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set
from trading.models import Position, PositionStatus
from trading.services import liquidation
from trading.services.liquidation import liquidation_lane_run, liquidation_run
from trading.services.liquidation_lanes import lanes_split
from trading.services.positions import position_open


def _check_split(rows, lanes, shards, out):
    ids = [position_id for position_id, _user in rows]
    flat = [position_id for lane in out for position_id in lane]
    assert sorted(flat) == sorted(ids)  # every candidate exactly once
    assert (1 if rows else 0) <= len(out) <= max(1, lanes) and all(out)
    owner = dict(rows)
    lane_of_shard: dict[int, int] = {}
    for n, lane in enumerate(out):
        for position_id in lane:  # no shard class (so no user, no system row) in two lanes
            assert lane_of_shard.setdefault(system_shard(owner[position_id], shards), n) == n
        assert lane == [i for i in ids if i in set(lane)]  # the candidates' order is kept
    assert [len(lane) for lane in out] == sorted((len(lane) for lane in out), reverse=True)


def test_lanes_keep_shard_classes_whole_and_come_out_even():
    rows = [(n, user) for n, user in enumerate([1, 2, 3, 4, 17, 18, 5, 6, 33, 7, 8, 9])]
    out = lanes_split(rows, lanes=2, shards=16)
    _check_split(rows, 2, 16, out)
    assert [len(lane) for lane in out] == [6, 6]


def test_one_shard_class_or_one_shard_means_one_lane():
    rows = [(n, 16 * n) for n in range(10)]  # every user on shard 0
    assert lanes_split(rows, lanes=4, shards=16) == [list(range(10))]
    rows = [(n, n) for n in range(10)]
    assert lanes_split(rows, lanes=4, shards=1) == [list(range(10))]
    assert lanes_split([], lanes=2, shards=16) == []


@given(
    users=st.lists(st.integers(min_value=1, max_value=5_000), max_size=300),
    lanes=st.integers(min_value=1, max_value=6),
    shards=st.integers(min_value=1, max_value=32),
)
def test_any_split_is_complete_disjoint_and_whole(users, lanes, shards):
    rows = list(enumerate(users))
    out = lanes_split(rows, lanes=lanes, shards=shards)
    _check_split(rows, lanes, shards, out)
    if out:  # greedy, largest class first: no lane exceeds the mean by more than the largest class
        classes: dict[int, int] = {}
        for _n, user in rows:
            classes[system_shard(user, shards)] = classes.get(system_shard(user, shards), 0) + 1
        assert len(out[0]) <= len(rows) / len(out) + max(classes.values())


@pytest.fixture
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    market_set("SOL-PERP", mmr=D(0))
    settings.POSITION_FEE_BPS = D(0)


def _book(n_users: int) -> list:
    """At 100, one long 10x (liquidation price 90) per user."""
    set_price(D(100))
    ids = []
    for n in range(n_users):
        opened = position_open(user=make_user(), side="long", leverage=D(10), margin=D(100), client_order_id=f"l-{n}")
        ids.append(opened.position.id)
    return ids


@pytest.mark.django_db
def test_no_split_when_tasks_run_eagerly_or_there_is_one_batch(settings, no_slippage):
    """Embedded mode (eager Celery) and small ticks stay in one lane; the real stack splits a
    tick of more than one batch into at most POSITION_LIQUIDATION_LANES lanes."""
    settings.POSITION_LIQUIDATION_LANES = 4
    settings.POSITION_LIQUIDATION_BATCH = 2
    assert settings.CELERY_TASK_ALWAYS_EAGER and liquidation._lanes_wanted(10) == 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert liquidation._lanes_wanted(2) == 1  # one batch of work
    assert liquidation._lanes_wanted(5) == 3  # three batches
    assert liquidation._lanes_wanted(100) == 4  # capped
    settings.POSITION_ENGINE_ASYNC = False
    assert liquidation._lanes_wanted(100) == 1
    settings.POSITION_ENGINE_ASYNC, settings.POSITION_LIQUIDATION_LANES = True, 1
    assert liquidation._lanes_wanted(100) == 1


@pytest.mark.django_db
def test_a_lane_whose_broker_refuses_is_liquidated_by_the_tick_itself(settings, no_slippage, monkeypatch):
    """If a lane cannot be enqueued, the tick's own process liquidates it: nothing is left open."""
    from trading import tasks

    ids = _book(6)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.POSITION_LIQUIDATION_BATCH = 2
    settings.POSITION_LIQUIDATION_LANES = 3
    sent: list = []

    def refuse(*args, **kwargs):
        sent.append(args)
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(tasks.liquidate_lane, "apply_async", refuse)
    set_price(D(85))
    report = liquidation_run(price=D(85), computed_at=datetime.now(timezone.utc))
    assert sent and report.lanes > 1 and report.dispatched == 0
    assert sorted(report.liquidated) == sorted(str(i) for i in ids)
    assert not Position.objects.filter(status=PositionStatus.OPEN).exists()
    assert_books_ok()


@pytest.mark.django_db
def test_a_lane_never_runs_on_a_stale_tick(settings, no_slippage):
    """A lane that waited in the queue past the staleness budget liquidates nothing (the sweep
    will, at a fresh price); a fresh one liquidates exactly its crossed positions."""
    ids = _book(3)
    set_price(D(85))
    old = datetime.now(timezone.utc) - timedelta(seconds=settings.PRICE_STALE_SECONDS + 1)
    assert liquidation_lane_run(ids=[str(i) for i in ids], price=D(85), computed_at=old) == []
    assert Position.objects.filter(status=PositionStatus.OPEN).count() == 3
    done = liquidation_lane_run(ids=[str(i) for i in ids[:2]], price=D(85), computed_at=datetime.now(timezone.utc))
    assert sorted(done) == sorted(str(i) for i in ids[:2])
    assert Position.objects.filter(status=PositionStatus.OPEN).count() == 1
    assert_books_ok()
