"""The leaderboard ranks a period across resets: a reset never improves a place, the rows show
the reset count, and a reset rewrites its row at once (real PostgreSQL and Redis)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portfolio.leaderboard import METRICS, PERIODS
from portfolio.models import Asset, Epoch, EquitySnapshot, LedgerAccount
from portfolio.services import balance_adjust
from portfolio.tasks import leaderboard_refresh_task
from tests.portfolio.helpers import assert_books_ok, authed_client, balances_of, make_user
from tests.trading.helpers import clear_price, order_body, set_price

BOARDS = [(period, metric) for period in PERIODS for metric in METRICS]


def _buy(user, qty: str, cid: str) -> None:
    response = authed_client(user).post("/api/v1/orders", order_body(qty=qty, client_order_id=cid), format="json")
    assert response.status_code == 201, response.json()


def _reset(user) -> dict:
    response = authed_client(user).post("/api/v1/account/reset")
    assert response.status_code == 200, response.json()
    return response.json()


def _board(period: str, metric: str) -> list[dict]:
    response = APIClient().get(f"/api/v1/leaderboard?period={period}&metric={metric}")
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def _row(user, period: str, metric: str) -> dict:
    trader = f"{user.address[:4]}…{user.address[-4:]}"
    (row,) = [row for row in _board(period, metric) if row["trader"] == trader]
    return row


def _backdate(user, *, days: int, snapshots: list[tuple[timedelta, str]]) -> None:
    """Epoch 1 began ``days`` ago; equity snapshots ``(age, equity)`` of it."""
    account = LedgerAccount.objects.get(user=user)
    now = timezone.now()
    Epoch.objects.filter(account=account, number=1).update(started_at=now - timedelta(days=days))
    for age, equity in snapshots:
        EquitySnapshot.objects.create(
            account=account, epoch=1, taken_at=now - age, equity=Decimal(equity), cash=equity, sol_qty=0, price=100
        )


@pytest.mark.django_db
@pytest.mark.parametrize("embedded", [False, True])
def test_a_big_loss_then_a_reset_never_ranks_above_a_small_loss(settings, embedded):
    """A goes all-in and loses about half, B loses a little; A resets to a fresh 10,000. On every
    period and metric B still ranks above A, and A's row shows the loss it took and one reset
    (Redis sorted sets, and embedded mode computed from the database)."""
    if embedded:
        settings.REDIS_URL = ""
    set_price(Decimal("100"))
    gambler, careful = make_user(), make_user()
    for user in (gambler, careful):
        _backdate(user, days=10, snapshots=[(timedelta(days=3), "10000"), (timedelta(hours=2), "10000")])
    _buy(gambler, "95", "all-in")
    _buy(careful, "1", "small")
    set_price(Decimal("50"))
    _reset(gambler)
    assert balances_of(gambler)["USD"] == Decimal("10000")
    leaderboard_refresh_task()
    for period, metric in BOARDS:
        ranks = {row["trader"]: (row["rank"], row) for row in _board(period, metric)}
        loser, small = _row(gambler, period, metric), _row(careful, period, metric)
        assert small["rank"] < loser["rank"], (period, metric, ranks)
        assert Decimal(loser["pnl"]) < Decimal("-4500") and Decimal(loser["return"]) < Decimal("-0.45")
        assert (loser["resets"], small["resets"]) == (1, 0)
    assert Decimal(_row(gambler, "all", "equity")["equity"]) < Decimal("5500")
    assert_books_ok()


@pytest.mark.django_db(transaction=True)
def test_a_reset_changes_no_score_and_its_row_is_rewritten_at_once():
    """On the real Redis: right after the reset's response (no refresh in between), the trader's
    row shows one reset and every period's equity, pnl and return exactly as before the reset;
    trading on in the new epoch counts on top of the ended one, chain-linked."""
    set_price(Decimal("100"))
    user = make_user()
    _backdate(user, days=10, snapshots=[(timedelta(days=3), "10000"), (timedelta(hours=2), "9990")])
    _buy(user, "50", "b1")
    set_price(Decimal("80"))
    leaderboard_refresh_task()
    before = {board: _row(user, *board) for board in BOARDS}
    assert before[("all", "equity")]["resets"] == 0
    equity_1 = Decimal(before[("all", "equity")]["equity"])
    assert Decimal(before[("24h", "equity")]["pnl"]) == equity_1 - Decimal("9990")

    _reset(user)
    after = {board: _row(user, *board) for board in BOARDS}
    for board in BOARDS:
        assert after[board]["resets"] == 1, board
        assert {k: after[board][k] for k in ("equity", "pnl", "return")} == {
            k: before[board][k] for k in ("equity", "pnl", "return")
        }, board

    _buy(user, "20", "b2")  # the fill's own update (a task, eager here) rewrites the row too
    set_price(Decimal("90"))
    leaderboard_refresh_task()
    equity_2 = balances_of(user)["USD"] + balances_of(user)["SOL"] * 90
    growth = equity_1 / Decimal("9990") * equity_2 / Decimal("10000")
    assert Decimal(_row(user, "24h", "return")["return"]) == (growth - 1).quantize(Decimal("0.000001"))
    assert Decimal(_row(user, "all", "equity")["equity"]) == (equity_1 * equity_2 / 10000).quantize(Decimal("0.000001"))
    assert_books_ok()


@pytest.mark.django_db
def test_adjustments_standing_in_for_results_show_the_free_option_is_closed():
    """Equity halved, reset, then doubled on the fresh grant ranks level with equity halved then
    doubled without a reset (both flat), below a trader up 1 %, on every board."""
    set_price(Decimal("100"))
    resetter, steady, winner = make_user(), make_user(), make_user()
    for user, moves in ((resetter, ["-5000"]), (steady, ["-5000", "5000"]), (winner, ["100"])):
        for amount in moves:
            balance_adjust(
                account=LedgerAccount.objects.get(user=user), asset=Asset.USD, amount=Decimal(amount), reason="t"
            )
    _reset(resetter)
    balance_adjust(
        account=LedgerAccount.objects.get(user=resetter), asset=Asset.USD, amount=Decimal("10000"), reason="t"
    )
    leaderboard_refresh_task()
    for period, metric in BOARDS:
        rows = [_row(user, period, metric) for user in (winner, steady, resetter)]
        assert rows[0]["rank"] == 1, (period, metric, rows)
        assert [(row["pnl"], row["return"]) for row in rows[1:]] == [("0.000000", "0.000000")] * 2
    assert _row(resetter, "all", "equity")["equity"] == "10000.000000"
    assert_books_ok()


@pytest.mark.django_db
def test_a_reset_holding_sol_without_any_price_is_refused_and_changes_nothing():
    """No price at all: a reset that must value SOL answers 503 price_unavailable and leaves the
    epoch and balances as they were; a cash-only account resets (its final equity is its cash)."""
    set_price(Decimal("100"))
    holder, cash_only = make_user(), make_user()
    _buy(holder, "1", "b1")
    balances = balances_of(holder)
    clear_price()
    response = authed_client(holder).post("/api/v1/account/reset")
    assert response.status_code == 503 and response.json()["code"] == "price_unavailable"
    assert response["Retry-After"] == "2"
    assert balances_of(holder) == balances
    assert LedgerAccount.objects.get(user=holder).epoch == 1
    assert _reset(cash_only)["epoch"] == 2
    ended = Epoch.objects.get(account__user=cash_only, number=1)
    assert ended.final_equity == Decimal("10000") and ended.ended_at is not None
    assert_books_ok()


@pytest.mark.django_db
def test_a_refresh_reads_the_same_few_queries_whatever_the_accounts_and_resets():
    """Accounts, balances, positions, epochs (with their window snapshots): four reads for two
    accounts and for six, with or without resets and snapshots."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portfolio.leaderboard import _rows
    from pricing.markets import registry_get

    set_price(Decimal("100"))
    registry_get()  # the market registry, read once per process (not per refresh)
    counts = []
    for n in (2, 6):
        users = [make_user() for _ in range(n)]
        _backdate(users[0], days=10, snapshots=[(timedelta(days=3), "10000")])
        _reset(users[-1])
        with CaptureQueriesContext(connection) as queries:
            assert len(_rows()) >= n
        counts.append(len(queries))
    assert counts == [4, 4]


@pytest.mark.django_db
def test_the_leaderboard_page_has_a_resets_column(client):
    """/leaderboard/ shows each trader's reset count (the column its script fills from ``resets``)."""
    response = client.get("/leaderboard/")
    assert response.status_code == 200
    assert b'title="Account resets">Resets</th>' in response.content
