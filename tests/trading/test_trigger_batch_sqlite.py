"""Embedded mode: the trigger engine's batch (the ORM twins of ``trading.trigger_pg``) fills
resting orders on SQLite, in a child process on a fresh SQLite database."""

from __future__ import annotations

import pytest

from tests.conftest import sqlite_script_run

pytestmark = pytest.mark.slow

SCRIPT = r"""
import django
django.setup()
from datetime import datetime, timezone
from decimal import Decimal as D
from django.core.cache import cache
from django.db import connection
from accounts.models import User
from portfolio.models import SpotHolding
from portfolio.reconcile import reconcile_run
from pricing.selectors import latest_price_key
from realtime.models import UserEvent
from trading.models import Fill, Order
from trading.services.limit_orders import limit_order_place
from trading.services.order_triggers import order_triggers_run

assert connection.vendor == "sqlite", connection.vendor

def price(p, symbol="SOL-USD"):
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    record = {"symbol": symbol, "price": str(p), "sources": ["t"], "computed_at": now, "mode": "live"}
    cache.set(latest_price_key(symbol), record, 300)

price(D(100))
price(D("0.8"), "JUP-USD")
users = [User.objects.create_user(username=f"sq{i}", address=f"sq{i}") for i in range(6)]
crossed = []
for i, u in enumerate(users):
    crossed.append(limit_order_place(user=u, client_order_id=f"a{i}", symbol="SOL-USD", side="buy", qty=D("1.5"),
                                     limit_price=D("95")).order)
    limit_order_place(user=u, client_order_id=f"b{i}", symbol="SOL-USD", side="buy", qty=D(1), limit_price=D(90))
    crossed.append(limit_order_place(user=u, client_order_id=f"j{i}", symbol="JUP-USD", side="buy", qty=D(100),
                                     limit_price=D("0.75")).order)
price(D(94))
report = order_triggers_run(index_symbol="SOL-USD", price=D(94), computed_at=datetime.now(timezone.utc))
assert report.filled == [str(o.pk) for o in crossed[::2]], report
price(D("0.7"), "JUP-USD")
report = order_triggers_run(index_symbol="JUP-USD", price=D("0.7"), computed_at=datetime.now(timezone.utc))
assert report.filled == [str(o.pk) for o in crossed[1::2]], report
assert Order.objects.filter(status="filled").count() == 12 and Fill.objects.filter(liquidity="maker").count() == 12
book = SpotHolding.objects.get(account__user=users[0], asset="JUP")  # created by the batch
assert (book.qty, book.cost_basis, book.fees_paid) == (D(100), D(75), D("0.015")), book
for u in users:
    events = list(UserEvent.objects.filter(user=u).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events][-4:] == ["order_fill", "portfolio_update"] * 2
breaches = {name: problems for name, problems in reconcile_run().items() if problems}
assert breaches == {}, breaches
print("triggers ok on sqlite")
"""


def test_the_trigger_batch_fills_on_sqlite(tmp_path):
    """Six traders, each with a SOL buy the tick crosses, one it does not, and a JUP buy its own
    index's tick crosses (a spot book the batch creates): exactly those fill as the maker, with
    gap-free event seqs and books ``reconcile`` finds clean."""
    run = sqlite_script_run(tmp_path, SCRIPT, TRADING_SPREAD_BPS="0", TRADING_IMPACT_BPS="0")
    assert "triggers ok on sqlite" in run.stdout
