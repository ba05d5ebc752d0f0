"""Embedded mode: resets, adjustments (user rows locked before ``grants``), the leaderboard
across resets and its periodic update work on SQLite, in a child process on a fresh SQLite
database."""

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
from django.db import connection, transaction
from django.conf import settings
from accounts.models import User
from portfolio.leaderboard import leaderboard_list
from portfolio.models import LedgerAccount
from portfolio.services import account_reset, balance_adjust, balance_lock, system_account_get
from pricing.selectors import LATEST_PRICE_KEY

assert connection.vendor == "sqlite", connection.vendor
now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
cache.set(LATEST_PRICE_KEY, {"symbol": "SOL-USD", "price": "100", "sources": ["t"], "computed_at": now}, 300)

resetter, careful = (User.objects.create_user(username=f"u{i}", address=f"addr{i}") for i in range(2))
books = {u: LedgerAccount.objects.get(user=u) for u in (resetter, careful)}
balance_adjust(account=books[resetter], asset="USD", amount=D("-6000"), reason="loss")
balance_adjust(account=books[careful], asset="USD", amount=D("-10"), reason="small loss")
account_reset(user=resetter, prices={"SOL": D(100)})
balance_adjust(account=books[resetter], asset="USD", amount=D("1000"), reason="gain")
for period in ("all", "24h", "7d"):
    for metric in ("equity", "return"):
        rows = leaderboard_list(period=period, metric=metric)
        assert [r["trader"] for r in rows] == ["addr1", "addr0"], (period, metric, rows)
        assert [r["resets"] for r in rows] == [0, 1]
        assert rows[1]["return"] == "-0.560000", rows  # 0.4 * 1.1 - 1
# The periodic update (the in-process scheduler runs it here): it finds the changed account in the
# ledger and clears the cached board, so the next read shows the change.
from portfolio.leaderboard_changes import leaderboard_update_changed
leaderboard_update_changed()
assert leaderboard_list(period="all", metric="equity")[0]["trader"] == "addr1"
balance_adjust(account=books[resetter], asset="USD", amount=D("30000"), reason="big gain")  # 0.4 * 4.1 > 1
assert leaderboard_list(period="all", metric="equity")[0]["trader"] == "addr1"  # cached for 5 s
assert leaderboard_update_changed() == 1
assert leaderboard_list(period="all", metric="equity")[0]["trader"] == "addr0"
with transaction.atomic():
    grants = system_account_get(code="grants")
    keys = [(grants, "USD", shard) for shard in range(settings.LEDGER_SYSTEM_SHARDS)]
    locked = balance_lock(keys=keys + [(books[careful], asset, 0) for asset in ("USD", "SOL")])
assert [row.allow_negative for row in locked.values()][-1] is True
assert not any(row.allow_negative for row in list(locked.values())[:2])
print("leaderboard ok on sqlite")
"""


def test_resets_adjustments_and_the_leaderboard_on_sqlite(tmp_path):
    """A trader who lost 60 %, reset and made 10 % on the fresh grant ranks below one who lost
    0.1 %, on every board, with -56 % (chained) and one reset; the periodic update shows a later
    gain once it runs; user rows lock before system rows."""
    run = sqlite_script_run(tmp_path, SCRIPT, LEDGER_SYSTEM_SHARDS="1")
    assert "leaderboard ok on sqlite" in run.stdout
