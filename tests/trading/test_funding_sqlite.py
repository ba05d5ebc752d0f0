"""Embedded mode: the funding beat settles on SQLite through the ORM twin (``trading.funding_orm``),
in a child process on a fresh SQLite database: a long pays, a short receives, a payment the margin
cannot cover liquidates, a second beat charges nothing, ``reconcile`` is clean."""

from __future__ import annotations

import pytest

from tests.conftest import sqlite_script_run

pytestmark = pytest.mark.slow

SCRIPT = r"""
import django
django.setup()
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from accounts.models import User
from pricing.models import Market
from pricing.selectors import last_price_key, latest_price_key
from realtime.models import UserEvent
from trading.funding_maths import funding_time_at_or_before
from trading.funding_tasks import funding_settle_due_task
from trading.models import FundingPayment, FundingRun, Position
from trading.services.positions import position_open

assert connection.vendor == "sqlite", connection.vendor
settings.TRADING_SPREAD_BPS = settings.TRADING_IMPACT_BPS = settings.POSITION_FEE_BPS = D(0)
settings.FUNDING_RATE_CAP, settings.FUNDING_INTERVAL_HOURS = D("0.1"), 1
market = Market.objects.get(symbol="SOL-PERP"); market.mmr = D("0.005"); market.save()
now = datetime.now(timezone.utc)
record = {"symbol": "SOL-USD", "price": "100", "bid": None, "ask": None, "sources": ["t"],
          "computed_at": now.isoformat().replace("+00:00", "Z"), "mode": "live",
          "perps": {"SOL-PERP": {"mark": "100", "mark_sources": ["backpack"], "funding_rate": "0.06",
                                 "funding_sources": ["backpack"]}}}
cache.set(latest_price_key("SOL-USD"), record, 300)
cache.set(last_price_key("SOL-USD"), record, None)
t = funding_time_at_or_before(now, interval_hours=1)
users = [User.objects.create_user(username=f"u{i}", address=f"addr{i}") for i in range(3)]
opened = [position_open(user=users[0], side="short", leverage=D(10), margin=D(100), client_order_id="s").position,
          position_open(user=users[1], side="long", leverage=D(2), margin=D(500), client_order_id="l").position,
          position_open(user=users[2], side="long", leverage=D(20), margin=D(100), client_order_id="w").position]
Position.objects.update(opened_at=t - timedelta(minutes=5))
assert funding_settle_due_task.run() == 1
short, strong, weak = (Position.objects.get(pk=p.pk) for p in opened)
assert (short.margin, short.funding_accrued) == (D(160), D(60)), short.margin      # 10 x 100 x 0.06 received
assert (strong.margin, strong.funding_accrued) == (D(440), D(-60)), strong.margin  # 10 x 100 x 0.06 paid
assert weak.status == "liquidated" and weak.funding_accrued == D("-99.999999"), (weak.status, weak.funding_accrued)
assert FundingPayment.objects.get(position=weak).insurance == D("-20.000001")
assert FundingRun.objects.get(funding_time=t).positions == 3
assert funding_settle_due_task.run() == 0 and FundingPayment.objects.count() == 3
assert UserEvent.objects.filter(type="funding_payment").count() == 3
from portfolio.reconcile import reconcile_run
breaches = {name: problems for name, problems in reconcile_run().items() if problems}
assert breaches == {}, breaches
print("funding ok on sqlite")
"""


def test_funding_settles_on_sqlite(tmp_path):
    """The embedded mode's beat settles through the ORM twin with the hand figures (rate 0.06 at
    mark 100): the short of 10 receives 60, the 2x long of 10 pays 60, the 20x long of 20 owes
    120, pays 99.999999 of its margin 100 (insurance the rest) and is liquidated; the second beat
    charges nothing; the books reconcile."""
    run = sqlite_script_run(tmp_path, SCRIPT)
    assert "funding ok on sqlite" in run.stdout
