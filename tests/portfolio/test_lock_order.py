"""One lock order on the real PostgreSQL: a user's balance rows first, the system shard rows last.

The interleavings are forced, not hoped for: a separate connection holds a row, the test waits
until PostgreSQL shows the workers blocked on a lock, then lets go (tests/portfolio/locks.py).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from portfolio.models import Asset, Balance, BalanceAdjustment, Epoch, LedgerAccount, LedgerReason
from portfolio.pg import PORTABLE
from portfolio.services import Leg, Posting, account_reset, balance_adjust, ledger_post, ledger_post_many
from portfolio.services.accounts import system_account_get
from portfolio.services.ledger import shard_for
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.portfolio.locks import RowHold, Worker, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 50
HOLDING_SQL = "SELECT id FROM portfolio_spotholding WHERE account_id = %s FOR UPDATE"
USER_ROW_SQL = "SELECT id FROM portfolio_balance WHERE account_id = %s AND asset = %s FOR UPDATE"
ROW_NOWAIT_SQL = "SELECT id FROM portfolio_balance WHERE id = %s FOR UPDATE NOWAIT"


def adjust_and_reset_round(account: LedgerAccount, user, asset: str, price: Decimal) -> tuple[Worker, Worker]:
    """The interleaving that deadlocked: the reset holds the user's balance rows and waits (on the
    SOL book, held by a third connection) before it posts against ``grants``; meanwhile the admin
    adjustment of the same user starts and blocks. Then the book is let go. Under one lock order the
    adjustment waits holding nothing; under the old one it held the ``grants`` shard row (lower id
    than the user's rows) and the reset's posting then closed the cycle: DeadlockDetected."""
    # Something for the reset to post back on ``asset`` (so it needs that ``grants`` row too).
    balance_adjust(account=account, asset=asset, amount=Decimal("1"), reason="setup")
    hold, workers = RowHold(), []
    try:
        hold.hold(HOLDING_SQL, (account.pk,))
        reset = Worker(lambda: account_reset(user=user, prices={"SOL": price})).begin()
        workers.append(reset)
        wait_until_blocked(reset.pid)
        adjust = Worker(
            lambda: balance_adjust(account=account, asset=asset, amount=Decimal("1"), reason="ops test")
        ).begin()
        workers.append(adjust)
        wait_until_blocked(reset.pid, adjust.pid)
    finally:
        hold.close()  # lets go of the book; every worker ends before the test goes on
        for worker in workers:
            worker.finish()
    return reset, adjust


def test_admin_adjustment_and_reset_of_one_user_never_deadlock():
    """50 rounds of an admin adjustment racing the same user's reset, in the interleaving that
    deadlocked before (USD and SOL in turn): both always succeed, the reset first, the adjustment
    after it; every round is one reset and one adjustment; the books reconcile."""
    user = make_user()
    account = LedgerAccount.objects.get(user=user)
    for n in range(ROUNDS):
        asset = (Asset.USD, Asset.SOL)[n % 2]
        reset, adjust = adjust_and_reset_round(account, user, asset, Decimal("150"))
        assert (reset.error, adjust.error) == (None, None), f"round {n}: {reset.error!r} / {adjust.error!r}"
        assert balances_of(user)[asset] == {Asset.USD: Decimal("10001"), Asset.SOL: Decimal("1")}[asset]
    assert Epoch.objects.filter(account=account).count() == ROUNDS + 1
    assert BalanceAdjustment.objects.filter(account=account, reason="ops test").count() == ROUNDS
    assert_books_ok()


def _grants_row(asset: str, user) -> Balance:
    grants = system_account_get(code="grants")
    return Balance.objects.get(account=grants, asset=asset, shard=shard_for(grants, user.pk))


@pytest.mark.parametrize("path", ["ledger_post", "ledger_post_many", "balance_adjust"])
def test_a_posting_waiting_for_a_user_row_holds_no_system_row(path):
    """A posting against ``grants`` that waits for the user's balance row (held elsewhere) holds no
    system row meanwhile: the ``grants`` shard row stays lockable by anyone (NOWAIT succeeds),
    though its id is lower than the user's. Once the user row is free the posting completes."""
    user = make_user()
    account = LedgerAccount.objects.get(user=user)
    grants = system_account_get(code="grants")
    grants_row = _grants_row(Asset.USD, user)
    assert grants_row.pk < Balance.objects.get(account=account, asset=Asset.USD).pk
    legs = [Leg(account, Asset.USD, Decimal("5")), Leg(grants, Asset.USD, Decimal("-5"))]

    def post():
        if path == "balance_adjust":
            return balance_adjust(account=account, asset=Asset.USD, amount=Decimal("5"), reason="ops test")
        with transaction.atomic():
            if path == "ledger_post":
                return ledger_post(reason=LedgerReason.ADJUSTMENT, legs=legs, shard_key=user.pk)
            return ledger_post_many(postings=[Posting(LedgerReason.ADJUSTMENT, legs, shard_key=user.pk)])

    hold, probe, workers = RowHold(), RowHold(), []
    try:
        hold.hold(USER_ROW_SQL, (account.pk, Asset.USD))
        workers.append(Worker(post).begin())
        wait_until_blocked(workers[0].pid)
        grants_free = probe.try_lock(ROW_NOWAIT_SQL, (grants_row.pk,))
    finally:
        hold.close()
        probe.close()
        for worker in workers:
            worker.finish()
    assert grants_free, "the waiting posting held the grants row"
    worker = workers[0]
    assert worker.error is None
    assert balances_of(user)["USD"] == Decimal("10005")
    assert_books_ok()


def test_the_portable_lock_path_takes_user_rows_before_system_rows():
    """The ORM lock (SQLite's path) orders user rows before system rows, each by id."""
    user = make_user()
    account = LedgerAccount.objects.get(user=user)
    grants_row = _grants_row(Asset.USD, user)
    grants = system_account_get(code="grants")
    wanted = {(grants.pk, Asset.USD, grants_row.shard): grants}
    wanted.update({(account.pk, asset, 0): account for asset in (Asset.USD, Asset.SOL)})
    with transaction.atomic():
        rows = PORTABLE.balances_lock(wanted)
    order = [row.allow_negative for row in rows.values()]
    assert order == [False, False, True]
