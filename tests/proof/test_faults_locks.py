"""Lock order under fire: one user's admin adjustment, reset and orders never deadlock.

Through the real surfaces (the admin form, the reset and order API) on the real PostgreSQL. The
dangerous interleavings are forced with a row held by a third connection (no code hook): the
test waits until PostgreSQL shows each request blocked on a lock before it lets go
(tests/portfolio/locks.py). The one lock order is in docs/ledger.md ("Lock order").
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.test import Client

from portfolio.models import Asset, BalanceAdjustment, Epoch, LedgerAccount, LedgerTransaction
from portfolio.services import balance_adjust
from tests.portfolio.helpers import assert_books_ok, authed_client, make_user
from tests.portfolio.locks import RowHold, Worker, wait_until_blocked
from tests.proof.conftest import proof_int
from tests.trading.helpers import order_body, set_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROUNDS = proof_int("PROOF_LOCK_ROUNDS", 50, 200)
ADJUSTED = "/admin/portfolio/balanceadjustment/"  # where a saved adjustment redirects
HOLDING_SQL = "SELECT id FROM portfolio_spotholding WHERE account_id = %s FOR UPDATE"


@pytest.fixture
def stage(django_user_model):
    set_price(Decimal("150"))
    user = make_user()
    ops = django_user_model.objects.create_superuser("ops", "pw-ops-123")
    return user, LedgerAccount.objects.get(user=user), ops


def _ops_client(ops) -> Client:
    client = Client()
    client.force_login(ops)
    return client


def _adjust(client: Client, account: LedgerAccount, asset: str) -> tuple[int, str]:
    response = client.post(
        "/admin/portfolio/balanceadjustment/add/",
        {"account": account.pk, "asset": asset, "amount": "1", "reason": "lock race"},
    )
    return response.status_code, response.get("Location", "")


def _reset(user) -> int:
    return authed_client(user).post("/api/v1/account/reset").status_code


def _after(barrier: threading.Barrier, fn):
    def run():
        barrier.wait()
        return fn()

    return run


def _forced_round(first: Worker, second_fn, account: LedgerAccount) -> tuple[Worker, Worker]:
    """``first`` starts while a third connection holds the user's SOL book and blocks inside its
    transaction (the user's balance rows held); ``second`` starts and blocks; then let go."""
    hold, workers = RowHold(), []
    try:
        hold.hold(HOLDING_SQL, (account.pk,))
        workers.append(first.begin())
        wait_until_blocked(first.pid)
        workers.append(Worker(second_fn).begin())
        wait_until_blocked(first.pid, workers[1].pid)
    finally:
        hold.close()
        for worker in workers:
            worker.finish()
    return workers[0], workers[1]


def test_admin_adjustment_and_reset_forced_interleavings_never_deadlock(stage, figures):
    """ROUNDS rounds (50; 200 in the soak tier), in turn: (a) the reset waits for the SOL book with
    the user's rows held while the admin form's adjustment starts -- the interleaving that
    deadlocked when ledger_post locked by id alone (the adjustment held the ``grants`` row the
    reset's posting needed); (b) an SOL adjustment waits for the book while the reset starts.
    Every reset answers 200, every adjustment is saved (302 to the list), each exactly once;
    the books reconcile."""
    user, account, ops = stage
    for n in range(ROUNDS):
        asset = Asset.SOL if n % 4 >= 2 else Asset.USD
        balance_adjust(account=account, asset=asset, amount=Decimal("1"), reason="setup")  # the reset posts it back
        admin = _ops_client(ops)
        reset_fn = lambda: _reset(user)  # noqa: E731
        if n % 2 == 0:
            adjust_fn = lambda admin=admin, asset=asset: _adjust(admin, account, asset)  # noqa: E731
            reset, adjust = _forced_round(Worker(reset_fn), adjust_fn, account)
        else:
            adjust_fn = lambda admin=admin: _adjust(admin, account, Asset.SOL)  # noqa: E731
            adjust, reset = _forced_round(Worker(adjust_fn), reset_fn, account)
        assert (reset.error, adjust.error) == (None, None), f"round {n}: {reset.error!r} {adjust.error!r}"
        assert reset.result == 200, f"round {n}: reset answered {reset.result}"
        assert adjust.result[0] == 302 and adjust.result[1].endswith(ADJUSTED), f"round {n}: {adjust.result}"
    assert Epoch.objects.filter(account=account).count() == ROUNDS + 1
    assert BalanceAdjustment.objects.filter(account=account, reason="lock race").count() == ROUNDS
    figures.update(rounds=ROUNDS)
    assert_books_ok()


def test_an_order_an_adjustment_and_a_reset_of_one_user_race_freely(stage, figures):
    """ROUNDS rounds of a buy (API), an admin adjustment (form) and a reset (API) of the same user
    released together by a barrier, in whatever order the machine runs them: every request
    succeeds (201 / 302 / 200), nothing answers 5xx or deadlocks; one fill, one adjustment and
    one reset per round; the books reconcile."""
    user, account, ops = stage
    outcomes: list[tuple] = []
    for n in range(ROUNDS):
        set_price(Decimal("150"))  # fresh: orders refuse a stale index
        admin, trader = _ops_client(ops), authed_client(user)
        barrier = threading.Barrier(3)
        body = order_body(qty="0.1", client_order_id=f"race-{n}")
        calls = [
            lambda trader=trader, body=body: trader.post("/api/v1/orders", body, format="json").status_code,
            lambda admin=admin: _adjust(admin, account, Asset.USD)[0],
            lambda: _reset(user),
        ]
        workers = [Worker(_after(barrier, call)).begin() for call in calls]
        results = tuple(worker.finish() for worker in workers)
        errors = [worker.error for worker in workers if worker.error]
        assert not errors, f"round {n}: {errors!r}"
        outcomes.append(results)
    assert set(outcomes) == {(201, 302, 200)}, set(outcomes)
    assert LedgerTransaction.objects.filter(reason="trade").count() == ROUNDS
    assert BalanceAdjustment.objects.filter(account=account, reason="lock race").count() == ROUNDS
    assert Epoch.objects.filter(account=account).count() == ROUNDS + 1
    figures.update(rounds=ROUNDS)
    assert_books_ok()
