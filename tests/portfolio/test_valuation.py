"""One equity formula (portfolio.valuation): its rounding, and every reader giving the same figure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portfolio.feed import portfolio_ws_snapshot
from portfolio.leaderboard import leaderboard_list, leaderboard_refresh
from portfolio.models import EquitySnapshot, LedgerAccount
from portfolio.services import balance_adjust
from portfolio.services.snapshots import equity_snapshot_take_all
from portfolio.valuation import equity_return, equity_value, sol_value
from tests.portfolio.helpers import assert_books_ok
from tests.trading.helpers import set_price

D = Decimal


def test_equity_is_cash_plus_sol_at_the_price_plus_unrealized_pnl():
    """Equity = USD total + SOL × price + positions' uPnL, in micro-dollars."""
    assert equity_value(
        cash=D("1000"), holdings={"SOL": D("2")}, prices={"SOL": D("150")}, unrealized_pnl=D("-12.5")
    ) == D("1287.500000")
    assert equity_value(cash=D("1000"), holdings={"SOL": D("2")}, prices={"SOL": D("150")}) == D("1300.000000")


def test_no_positions_valued_counts_as_zero_unrealized_pnl():
    """``unrealized_pnl=None`` (the provider had no price for them) adds nothing."""
    assert equity_value(cash=D("10"), holdings={"SOL": D(0)}, prices={"SOL": D("150")}, unrealized_pnl=None) == D(
        "10.000000"
    )


def test_equity_is_rounded_once_half_even_at_the_end():
    """A half micro-dollar rounds to the even micro-dollar, on the sum, not term by term: 0.5 SOL at
    150.000001 is 75.0000005; with 10000.000001 of cash the equity is 10075.0000015 -> .000002
    (rounding the SOL first, to 75.000000, would give .000001)."""
    price = D("150.000001")
    assert sol_value(qty=D("0.5"), price=price) == D("75.000000")
    assert equity_value(cash=D("10000.000001"), holdings={"SOL": D("0.5")}, prices={"SOL": price}) == D("10075.000002")
    assert equity_value(cash=D("10000.000002"), holdings={"SOL": D("0.5")}, prices={"SOL": price}) == D("10075.000002")
    assert equity_value(cash=D("0.0000004"), holdings={"SOL": D(0)}, prices={"SOL": price}) == D("0.000000")
    assert equity_value(cash=D("0.0000006"), holdings={"SOL": D(0)}, prices={"SOL": price}) == D("0.000001")


def test_equity_can_be_negative_and_zero_price_values_sol_at_nothing():
    """A loss beyond the cash shows as negative equity; a zero price (a grant without a price)
    values the SOL at 0."""
    assert equity_value(
        cash=D("5"), holdings={"SOL": D(0)}, prices={"SOL": D("1")}, unrealized_pnl=D("-7.0000001")
    ) == D("-2.000000")
    assert equity_value(cash=D("10000"), holdings={"SOL": D("3")}, prices={"SOL": D(0)}) == D("10000.000000")
    assert sol_value(qty=D("3"), price=D(0)) == D("0.000000")


def test_nine_decimal_balances_and_large_books_keep_every_digit_until_the_rounding():
    """Lamport quantities times six-decimal prices on a large book: nothing is lost before the end."""
    value = equity_value(
        cash=D("123456789.123456789"),
        holdings={"SOL": D("987654.123456789")},
        prices={"SOL": D("250.123457")},
        unrealized_pnl=D("0.1"),
    )
    exact = D("123456789.123456789") + D("987654.123456789") * D("250.123457") + D("0.1")
    assert value == exact.quantize(D("0.000001"))


@pytest.mark.parametrize(
    ("equity", "start", "expected"),
    [
        (D("11000"), D("10000"), D("0.100000")),
        (D("9000"), D("10000"), D("-0.100000")),
        (D("10000"), D("10000"), D("0.000000")),
        (D("10000.005"), D("10000"), D("0.000000")),  # 0.0000005: half-even down to 0
        (D("10000.015"), D("10000"), D("0.000002")),  # 0.0000015: half-even up to 2
        (D("0"), D("10000"), D("-1.000000")),
        (D("5"), D("0"), None),  # nothing to start from
    ],
)
def test_return_is_relative_to_the_start_to_six_decimals(equity, start, expected):
    """return = (equity - start) / start, half-even to 0.000001; none from a zero start."""
    assert equity_return(equity=equity, start=start) == expected


@pytest.mark.django_db
def test_summary_leaderboard_and_snapshot_show_the_same_equity_on_a_rounding_tie(user, trader):
    """0.5 SOL at an index with an odd last micro-digit is a half micro-dollar: the portfolio
    summary (also the WebSocket snapshot), the leaderboard and the equity snapshot all value the
    account with the one formula, so they agree to the micro-dollar."""
    account = LedgerAccount.objects.get(user=user)
    balance_adjust(account=account, asset="USD", amount=D("0.000001"), reason="tie test")
    balance_adjust(account=account, asset="SOL", amount=D("0.5"), reason="tie test")
    price = D("150.000001")
    set_price(price)
    expected = equity_value(cash=D("10000.000001"), holdings={"SOL": D("0.5")}, prices={"SOL": price})
    assert expected == D("10075.000002")

    summary = trader.get("/api/v1/portfolio").json()
    assert D(summary["equity"]) == expected
    assert D(summary["return"]) == equity_return(equity=expected, start=D("10000"))
    assert portfolio_ws_snapshot(user_id=user.pk)["equity"] == expected
    leaderboard_refresh()
    trader_name = f"{user.address[:4]}…{user.address[-4:]}"
    row = next(r for r in leaderboard_list(period="all", metric="equity") if r["trader"] == trader_name)
    assert D(row["equity"]) == expected
    equity_snapshot_take_all(prices={"SOL": price})
    assert EquitySnapshot.objects.filter(account=account).latest("taken_at").equity == expected
    assert_books_ok()
