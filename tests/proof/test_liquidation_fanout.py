"""A big tick fanned out over real Celery worker processes (``trading.liquidate_lane``):
every crossed position liquidated exactly once, the books reconcile, every event stored."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.portfolio.helpers import assert_books_ok, authed_client, make_user
from tests.proof.stack import CeleryWorker, PrivateRedis, cache_for, fresh_price_record
from tests.trading.helpers import set_price
from tests.trading.position_helpers import open_position

TIMEOUT = 30  # seconds: bounded waits, not timing assertions


@pytest.mark.django_db(transaction=True)
def test_a_tick_split_into_lanes_liquidates_every_position_once_on_two_workers():
    """32 users' positions (net: one each) crossed by one tick; the worker (2 pool processes) runs the tick
    with batches of 3 and 2 lanes: the tick's task hands a lane to ``trading.liquidate_lane``,
    the other pool process runs it while the first runs its own. Afterwards: every position
    liquidated, one liquidation ledger transaction, one history row and one
    ``position_liquidated`` each; reconcile clean; and the worker's log shows the hand-over."""
    from celery import Celery

    from portfolio.models import LedgerTransaction
    from pricing.selectors import LATEST_PRICE_KEY
    from realtime.models import UserEvent
    from trading.models import Position, PositionEvent

    set_price(Decimal("150"))
    users = [make_user() for _ in range(32)]
    ids, crash = [], None
    for user in users:
        set_price(Decimal("150"))  # fresh for every user's open (a slow machine takes a while)
        opened = open_position(authed_client(user), client_order_id="fan-1", leverage="20")
        ids.append(opened["id"])
        liq = Decimal(opened["liquidation_price"])
        crash = liq if crash is None else min(crash, liq)
    crash = (crash * Decimal("0.9")).quantize(Decimal("0.01"))

    redis = PrivateRedis().start()
    worker = None
    try:
        cache_for(redis.url).set(LATEST_PRICE_KEY, fresh_price_record(str(crash)), timeout=300)
        worker = CeleryWorker(
            redis_url=redis.url,
            concurrency=2,
            loglevel="INFO",
            POSITION_LIQUIDATION_BATCH="3",
            POSITION_LIQUIDATION_LANES="2",
        ).start()
        broker = Celery("proof-sender", broker=redis.url, set_as_current=False)  # the project app stays current
        broker.send_task("trading.liquidate_on_tick", args=(str(crash), datetime.now(timezone.utc).isoformat()))
        deadline = time.monotonic() + TIMEOUT
        while Position.objects.filter(status="open").exists():
            assert time.monotonic() < deadline, "not all liquidated: " + worker.output()
            time.sleep(0.1)
        deadline = time.monotonic() + TIMEOUT
        while "trading.liquidate_lane" not in worker.output() or "handed to 1 other lanes" not in worker.output():
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.1)
        log = worker.output()
    finally:
        if worker is not None:
            worker.stop()
        redis.stop()

    assert "succeeded" in log.split("trading.liquidate_lane", 1)[1], log  # the lane task ran to its end
    assert set(Position.objects.values_list("status", flat=True)) == {"liquidated"}
    for position_id in ids:
        assert LedgerTransaction.objects.filter(reason="liquidation", reference_id=position_id).count() == 1
        assert PositionEvent.objects.filter(position_id=position_id, kind="liquidation").count() == 1
    liquidated = UserEvent.objects.filter(type="position_liquidated")
    assert liquidated.count() == len(ids)
    assert {e.payload["data"]["position_id"] for e in liquidated} == set(ids)
    for user in users:  # each user's seqs stay gap-free across lanes
        seqs = list(UserEvent.objects.filter(user=user).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
    assert_books_ok()
