"""100 funding runs of one market and funding time at once, on real threads (each its own
PostgreSQL connection): exactly one settles, each position pays once."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import connection

from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.funding_helpers import backdate, last_funding_time, set_perp
from tests.trading.position_helpers import perp_book_setup
from trading.models import FundingPayment, FundingRun, Position
from trading.services.funding import funding_settle
from trading.services.positions import position_open

# 25 threads share the 100 runs: PostgreSQL's max_connections (100) is shared with other test runs.
RUNS, THREADS, POSITIONS = 100, 25, 30


@pytest.mark.django_db(transaction=True)
def test_hundred_concurrent_runs_charge_each_position_once(settings):
    """Rate 0.0001 at mark 100: each long of 10 SOL pays 0.1 and each short receives 0.1, once,
    whatever the number of runs racing for the funding time."""
    perp_book_setup(settings, POSITION_FEE_BPS=D(0), FUNDING_LATE_GRACE_SECONDS=3600)
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    t = last_funding_time()
    for n in range(POSITIONS):
        position = position_open(
            user=make_user(), side="long" if n % 2 else "short", leverage=D(10), margin=D(100), client_order_id=f"p{n}"
        ).position
        backdate(position, to=t)
    barrier = threading.Barrier(THREADS)
    outcomes: list = []
    lock = threading.Lock()

    def worker(runs: int) -> None:
        try:
            barrier.wait()
            for _ in range(runs):
                try:
                    result = funding_settle(symbol="SOL-PERP", funding_time=t)
                except Exception as exc:  # kept to assert on
                    result = exc
                with lock:
                    outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(RUNS // THREADS,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == RUNS
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sum(1 for o in outcomes if o.settled) == 1
    assert FundingRun.objects.count() == 1 and FundingRun.objects.get().positions == POSITIONS
    assert FundingPayment.objects.count() == POSITIONS
    assert LedgerTransaction.objects.filter(reason="funding").count() == POSITIONS
    margins = sorted(Position.objects.values_list("side", "margin").distinct())
    assert margins == [("long", D("99.9")), ("short", D("100.1"))]
    assert_books_ok()
