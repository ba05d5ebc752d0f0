"""Portfolio reads and reset over HTTP: summary, history, ledger (+CSV), reset epochs, leaderboard."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from portfolio.models import Epoch, EquitySnapshot, LedgerAccount
from portfolio.services.snapshots import equity_snapshot_take_all
from portfolio.tasks import leaderboard_refresh_task
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import clear_price, order_body, set_price

pytestmark = pytest.mark.django_db


def _buy(client, qty="10", cid="b1", side="buy"):
    response = client.post("/api/v1/orders", order_body(qty=qty, client_order_id=cid, side=side), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_summary_values_the_sol_book_at_the_index(trader, user, price150):
    """After buying 10 SOL: avg cost = fill price, unrealized PnL at a new index, equity = cash + value."""
    fill = _buy(trader)
    set_price(Decimal("160"))
    data = trader.get("/api/v1/portfolio").json()
    avg = Decimal(data["sol"]["avg_cost"])
    assert avg == Decimal(fill["filled_avg_price"])
    assert Decimal(data["sol"]["market_value"]) == Decimal("1600")
    assert Decimal(data["sol"]["unrealized_pnl"]) == Decimal("1600") - Decimal(data["sol"]["cost_basis"])
    assert Decimal(data["equity"]) == Decimal(data["cash"]) + Decimal("1600")
    assert Decimal(data["fees_paid"]) == Decimal(fill["fee"])
    assert Decimal(data["return"]) == ((Decimal(data["equity"]) - 10000) / 10000).quantize(Decimal("0.000001"))
    assert data["balances"]["USD"]["free"] == data["cash"]
    assert data["price_status"] == "ok"


def test_realized_pnl_after_a_round_trip(trader, price150):
    """Buy 10 at ~150, sell 4 at ~170: realized = proceeds - 4 * avg cost."""
    buy = _buy(trader)
    set_price(Decimal("170"))
    sell = _buy(trader, qty="4", cid="s1", side="sell")
    data = trader.get("/api/v1/portfolio").json()
    expected = Decimal(sell["filled_avg_price"]) * 4 - Decimal(buy["filled_avg_price"]) * 4
    assert abs(Decimal(data["realized_pnl"]) - expected) <= Decimal("0.000002")
    assert Decimal(data["sol"]["qty"]) == 6
    assert_books_ok()


def test_summary_without_a_price_still_answers(trader):
    """No price ever: balances are shown, price_status says why; holding only USD, the equity
    needs no price (it is the cash)."""
    clear_price()
    data = trader.get("/api/v1/portfolio").json()
    assert data["price_status"] == "price_unavailable" and data["price"] is None
    assert data["balances"]["USD"]["total"] == "10000.000000000"
    assert data["equity"] == "10000.000000" and data["valuation"] == {"stale": False, "stale_symbols": []}


def test_a_user_without_books_reads_404_and_the_read_opens_none(client_for, price150):
    """A user created some other way than sign-in or ``create_user`` (here a bulk insert) has no
    books: the portfolio reads answer 404 ``account_not_open`` and write nothing."""
    from accounts.models import User
    from tests.portfolio.helpers import new_address

    address = new_address()
    User.objects.bulk_create([User(username=address, address=address)])
    client = client_for(User.objects.get(address=address))
    for url in ("/api/v1/portfolio", "/api/v1/portfolio/history", "/api/v1/state"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.json())
        assert response.json()["code"] == "account_not_open"
    from portfolio.feed import portfolio_ws_snapshot

    user_id = User.objects.get(address=address).pk
    assert portfolio_ws_snapshot(user_id=user_id) is None  # the socket's feed pushes nothing
    assert not LedgerAccount.objects.filter(user__address=address).exists()


def test_reset_starts_a_new_epoch_and_keeps_history(trader, user, price150):
    """Reset brings USD back to 10,000 and SOL to 0 as a ledger transaction; the old epoch keeps its numbers."""
    _buy(trader)
    response = trader.post("/api/v1/account/reset")
    assert response.status_code == 200
    assert response.json()["epoch"] == 2
    assert balances_of(user) == {"USD": Decimal("10000"), "USD_locked": 0, "SOL": 0, "SOL_locked": 0}
    old = Epoch.objects.get(account__user=user, number=1)
    assert old.ended_at is not None and old.fees_paid > 0
    summary = trader.get("/api/v1/portfolio").json()
    assert summary["epoch"] == 2 and summary["fees_paid"] == "0.000000000"
    ledger = trader.get("/api/v1/ledger?reason=reset").json()["results"]
    assert {e["asset"] for e in ledger} == {"USD", "SOL"}
    assert_books_ok()


def test_ledger_lists_entries_with_reason_and_reference_and_exports_csv(trader, user, price150):
    """Each entry carries its transaction's reason and reference; ?format=csv exports every entry."""
    order = _buy(trader)
    page = trader.get("/api/v1/ledger").json()
    trade_entries = [e for e in page["results"] if e["reason"] == "trade"]
    assert {e["asset"] for e in trade_entries} == {"USD", "SOL"}
    assert all(e["reference_type"] == "order" and e["reference_id"] == order["id"] for e in trade_entries)
    response = trader.get("/api/v1/ledger?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3  # grant USD, trade SOL, trade USD
    assert sum(Decimal(r["amount"]) for r in rows if r["asset"] == "USD") == balances_of(user)["USD"]


def test_ledger_is_private(client_for, price150):
    """Another user's ledger shows only their own grant."""
    other = client_for(make_user())
    assert len(other.get("/api/v1/ledger").json()["results"]) == 1


def test_history_buckets_snapshots_per_timeframe(trader, user, price150):
    """Snapshots are bucketed by timeframe, keeping the last in each; PnL is against the epoch's start."""
    account = LedgerAccount.objects.get(user=user)
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    for minutes, equity in [(0, "10000"), (1, "10010"), (6, "10020"), (65, "9990")]:
        EquitySnapshot.objects.create(
            account=account,
            epoch=1,
            taken_at=now - timedelta(minutes=70 - minutes),
            equity=Decimal(equity),
            cash=Decimal(equity),
            sol_qty=0,
            price=Decimal("150"),
        )
    data = trader.get("/api/v1/portfolio/history?period=1D&timeframe=1H").json()
    assert [Decimal(e) for e in data["equity"]] == [Decimal("10020"), Decimal("9990")]
    assert [Decimal(p) for p in data["profit_loss"]] == [Decimal("20"), Decimal("-10")]
    bad = trader.get("/api/v1/portfolio/history?period=2Y")
    assert bad.status_code == 400 and "period" in bad.json()["extra"]["fields"]


def test_snapshot_task_records_equity_for_every_user(user, price150):
    """The periodic snapshot values each account at the index; without a price it records nothing."""
    assert equity_snapshot_take_all() >= 1
    snap = EquitySnapshot.objects.get(account__user=user)
    assert snap.equity == Decimal("10000") and snap.epoch == 1
    clear_price()
    assert equity_snapshot_take_all() == 0


@pytest.mark.parametrize("embedded", [False, True])
def test_leaderboard_ranks_by_equity_and_return_with_short_addresses(client_for, settings, embedded):
    """Public leaderboard: the trader whose SOL rose ranks first; addresses are shortened; works with
    Redis sorted sets and in embedded mode (computed from the database)."""
    if embedded:
        settings.REDIS_URL = ""
    set_price(Decimal("100"))
    winner, loser = make_user(), make_user()
    _buy(client_for(winner), qty="50", cid="w")
    set_price(Decimal("120"))
    leaderboard_refresh_task()
    from rest_framework.test import APIClient

    public = APIClient()
    for metric in ("equity", "return"):
        data = public.get(f"/api/v1/leaderboard?period=all&metric={metric}").json()
        results = data["results"]
        assert results[0]["trader"] == f"{winner.address[:4]}…{winner.address[-4:]}"
        assert results[0]["rank"] == 1
        assert Decimal(results[0]["return"]) > 0
        assert loser.address not in str(data)
    assert public.get("/api/v1/leaderboard?period=1y").status_code == 400
