"""Embedded mode: the engine, the batched ledger and the batched events work on SQLite (no
``unnest``/``= ANY``), in a child process on a fresh SQLite database."""

from __future__ import annotations

import pytest

from tests.conftest import sqlite_script_run

pytestmark = pytest.mark.slow

SCRIPT = r"""
import django
django.setup()
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal as D
from django.core.cache import cache
from django.db import connection
from accounts.models import User
from portfolio.models import Balance, LedgerEntry
from pricing.selectors import LATEST_PRICE_KEY
from realtime.models import UserEvent
from trading.models import Position, PositionEvent
from trading.services.liquidation import liquidation_run
from trading.services.positions import position_close, position_open

assert connection.vendor == "sqlite", connection.vendor

def price(p):
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    record = {"symbol": "SOL-USD", "price": str(p), "sources": ["t"], "computed_at": now, "mode": "live"}
    cache.set(LATEST_PRICE_KEY, record, 300)

price(D(100))
users = [User.objects.create_user(username=f"sq{i}", address=f"sq{i}") for i in range(12)]
crossed = []
for i, u in enumerate(users):  # one open position per trader and market (net positions)
    side, lev = (("long", "10"), ("long", "2"), ("short", "10"), ("long", "20"))[i % 4]
    opened = position_open(user=u, side=side, leverage=D(lev), margin=D(100), client_order_id=f"c{i}")
    if i % 4 == 3:
        position_close(user=u, position_id=opened.position.id, client_order_id=f"x{i}")
    if i % 4 == 0:
        crossed.append(u)
price(D(89))
report = liquidation_run(price=D(89), computed_at=datetime.now(timezone.utc))
assert len(report.liquidated) == 3 and report.candidates == 3, report
assert Position.objects.filter(status="liquidated").count() == 3
assert PositionEvent.objects.filter(kind="liquidation").count() == 3
for u in crossed:
    events = list(UserEvent.objects.filter(user=u).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events][-2:] == ["position_liquidated", "portfolio_update"]
# the ledger invariant, summed in Decimal (SQLite's SUM over decimals is a float)
sums = defaultdict(lambda: D(0))
for entry in LedgerEntry.objects.all():
    sums[(entry.account_id, entry.asset)] += entry.amount
    sums[("txn", entry.txn_id, entry.asset)] += entry.amount
for row in Balance.objects.all():
    sums[(row.account_id, row.asset)] -= row.total
assert all(v == 0 for v in sums.values()), {k: v for k, v in sums.items() if v}
# ... and reconcile itself says so on SQLite (it once summed decimals as floats there: a balanced
# transaction "summed to" 1.9E-15 and `manage.py reconcile` failed in embedded mode)
from portfolio.reconcile import reconcile_run
breaches = {name: problems for name, problems in reconcile_run().items() if problems}
assert breaches == {}, breaches
print("engine ok on sqlite")
"""


def test_the_engine_liquidates_on_sqlite(tmp_path):
    """Twelve traders, three of them with a crossed long among open and closed positions: exactly
    those are liquidated with their history row, gap-free event seqs, and balanced books that
    ``reconcile`` itself finds clean on SQLite."""
    run = sqlite_script_run(tmp_path, SCRIPT, TRADING_SPREAD_BPS="0", TRADING_IMPACT_BPS="0")
    assert "engine ok on sqlite" in run.stdout
