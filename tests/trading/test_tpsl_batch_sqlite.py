"""Embedded mode: the TP/SL close batch works on SQLite through its ORM twins (``trading.tpsl_pg``),
in a child process on a fresh SQLite database, with the outcome of the close command."""

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
from core.timefmt import iso_utc
from portfolio.models import Balance, LedgerEntry, LedgerTransaction
from pricing.selectors import last_price_key, latest_price_key
from realtime.models import UserEvent
from trading.models import Position, PositionEvent, PositionOrder
from trading.services import position_triggers
from trading.services.position_triggers import position_triggers_run, tick_quote, tpsl_candidates
from trading.services.positions import position_open

assert connection.vendor == "sqlite", connection.vendor

def price(p):
    now = datetime.now(timezone.utc)
    record = {"symbol": "SOL-USD", "price": str(p), "bid": None, "ask": None, "sources": ["t"],
              "computed_at": iso_utc(now, timespec="microseconds"), "mode": "live"}
    cache.set(latest_price_key("SOL-USD"), record, 300)
    cache.set(last_price_key("SOL-USD"), record, None)
    return now

def book(tag):
    users = [User.objects.create_user(username=f"{tag}{i}", address=f"{tag}{i}") for i in range(4)]
    price(D(100))
    position_open(user=users[0], side="long", leverage=D(10), margin=D(100), client_order_id="a",
                  take_profit_price=D(105))
    position_open(user=users[1], side="short", leverage=D(5), margin=D("77.7"), client_order_id="b",
                  stop_loss_price=D(106))
    position_open(user=users[2], side="long", leverage=D(2), margin=D(100), client_order_id="c",
                  take_profit_price=D(130))
    price(D(120))
    position_open(user=users[3], side="long", leverage=D(10), margin=D(100), client_order_id="d",
                  stop_loss_price=D(109))
    return users

def snapshot(user):
    p = Position.objects.get(user=user)
    txns = LedgerTransaction.objects.filter(reference_id=str(p.pk)).order_by("pk")
    ledger = [(t.reason, t.memo, [(e.bucket, e.amount) for e in t.entries.order_by("pk")]) for t in txns]
    events = [(e.seq, e.type, {k: v for k, v in e.payload["data"].items()
                               if k not in ("position_id", "opened_at", "closed_at")})
              for e in UserEvent.objects.filter(user=user).order_by("seq")]
    history = sorted((h.kind, h.qty, h.price, h.margin, h.fee, h.realized_pnl, h.insurance, h.reason)
                     for h in PositionEvent.objects.filter(position=p))
    orders = sorted((o.client_order_id.split(":")[0], o.side, o.action, o.qty, o.price, o.fee, o.realized_pnl)
                    for o in PositionOrder.objects.filter(position=p))
    balances = sorted(Balance.objects.filter(account__user=user).values_list("asset", "total", "locked"))
    return (p.status, p.exit_price, p.realized_pnl, p.fees_paid, p.take_profit_price, p.stop_loss_price,
            ledger, events, history, orders, balances)

one, batch = book("one"), book("bat")
computed_at = price(D(107))
quote = tick_quote("SOL-USD", price=D(107), computed_at=computed_at)
rows = tpsl_candidates(price=D(107), symbols=["SOL-PERP"], before=computed_at)
assert len(rows) == 6, rows
mine = {u.pk: u for u in one}
each = [pid for pid, uid, kind in rows
        if uid in mine and position_triggers._close(mine[uid], pid, kind=kind, quote=quote)]
assert len(each) == 3, each

def no_fallback(*args, **kwargs):
    raise AssertionError("the batch failed and fell back to the close command")

position_triggers._close = no_fallback
report = position_triggers_run(index_symbol="SOL-USD", price=D(107), computed_at=computed_at)
assert len(report.closed) == 3 and report.candidates == 3, report
assert sorted(kind for _id, kind in report.closed) == ["stop_loss", "stop_loss", "take_profit"], report
for a, b in zip(one, batch):
    assert snapshot(a) == snapshot(b), (snapshot(a), snapshot(b))
assert PositionEvent.objects.filter(kind="close", insurance__lt=0).count() == 2  # d gapped past bankruptcy
again = position_triggers_run(index_symbol="SOL-USD", price=D(107), computed_at=computed_at)
assert again.closed == [] and again.candidates == 0
sums = defaultdict(lambda: D(0))
for entry in LedgerEntry.objects.all():
    sums[(entry.account_id, entry.asset)] += entry.amount
    sums[("txn", entry.txn_id, entry.asset)] += entry.amount
for row in Balance.objects.all():
    sums[(row.account_id, row.asset)] -= row.total
assert all(v == 0 for v in sums.values()), {k: v for k, v in sums.items() if v}
from portfolio.reconcile import reconcile_run
breaches = {name: problems for name, problems in reconcile_run().items() if problems}
assert breaches == {}, breaches
print("tpsl batch ok on sqlite")
"""


def test_the_tpsl_batch_closes_as_the_close_command_on_sqlite(tmp_path):
    """Two copies of a four-trader book: at a tick of 107 the first is closed by the close command
    one position per transaction, the second by the engine's batch (the ORM twins): the same
    positions, ledger, history rows, records, events and balances; a second run closes nothing;
    the books balance and ``reconcile`` finds them clean."""
    run = sqlite_script_run(tmp_path, SCRIPT)
    assert "tpsl batch ok on sqlite" in run.stdout
