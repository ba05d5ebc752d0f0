"""Spot orders per market of the registry: a sub-cent token by hand, halting, one market's stale
price, and the market errors -- on both fill paths (the one-call function and the Python path)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from portfolio.models import Balance, LedgerEntry, SpotHolding
from pricing.markets import registry_clear
from pricing.models import Market, MarketStatus, Token
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import expire_price, order_body, set_price
from trading.models import Order, OrderRejection

pytestmark = pytest.mark.django_db
PATHS = pytest.mark.parametrize("one_call", [True, False], ids=["one_call", "python"])


def _order(client, **body):
    return client.post("/api/v1/orders", order_body(**body), format="json")


def _totals(user) -> dict:
    return {asset: total for asset, total in balances_of(user).items() if not asset.endswith("_locked")}


def _nothing_changed(user, before: dict) -> None:
    assert balances_of(user) == before
    assert Order.objects.filter(user=user).count() == 0
    assert OrderRejection.objects.filter(user=user).count() == 0


@PATHS
def test_bonk_by_hand_fee_slippage_rounding_and_books_per_asset(trader, user, settings, one_call):
    """BONK at 0.0000213, 250,000,000 bought then 100,000,000 sold, figures worked by hand:

    buy: notional at the index 5325; slippage 1 + 10*sqrt(5325/100000) = 3.3076 bps; price
    0.0000213 * 1.00033076 = 0.00002130704… rounded UP to the 1e-9 tick = 0.000021308; notional
    250e6 * 0.000021308 = 5327 exactly; fee 10 bps = 5.327; effective slippage 3.7559 bps (ceil).
    sell: slippage 1 + 10*sqrt(2130/100000) = 2.4595 bps; 0.0000213 * (1 - 0.00024595) =
    0.00002129476… rounded DOWN to 0.000021294; notional 2129.4; fee 2.1294; cost removed at average
    cost 5327 * 100/250 = 2130.8, realized 2129.4 - 2130.8 = -1.4.
    """
    settings.TRADING_FILL_IN_ONE_CALL = one_call
    set_price(D("0.0000213"), symbol="BONK-USD")
    buy = _order(trader, symbol="BONK-USD", qty="250000000", client_order_id="bonk-buy")
    assert buy.status_code == 201, buy.json()
    data = buy.json()
    assert (data["symbol"], data["filled_avg_price"], data["fee"]) == ("BONK-USD", "0.000021308", "5.327000000")
    assert data["slippage_bps"] == "3.7559" and data["index_price"] == "0.000021300"
    assert _totals(user) == {"USD": D("10000") - D("5327") - D("5.327"), "SOL": D(0), "BONK": D("250000000")}

    sell = _order(trader, symbol="BONK-USD", side="sell", qty="100000000", client_order_id="bonk-sell")
    assert sell.status_code == 201, sell.json()
    assert (sell.json()["filled_avg_price"], sell.json()["fee"]) == ("0.000021294", "2.129400000")
    usd = D("10000") - D("5332.327") + D("2129.4") - D("2.1294")
    assert _totals(user) == {"USD": usd, "SOL": D(0), "BONK": D("150000000")}
    book = SpotHolding.objects.get(account__user=user, asset="BONK")
    assert (book.qty, book.cost_basis, book.realized_pnl, book.fees_paid) == (
        D("150000000"), D("3196.2"), D("-1.4"), D("7.4564")
    )  # fmt: skip
    # No money created: per asset, the house holds exactly what the trader does not.
    for asset in ("USD", "BONK"):
        total = sum(e.amount for e in LedgerEntry.objects.filter(asset=asset))
        assert total == 0
    assert Balance.objects.get(account__code="fees", asset="USD", shard=user.pk % settings.LEDGER_SYSTEM_SHARDS)
    assert_books_ok()


@PATHS
def test_market_errors_are_4xx_with_a_code_and_change_nothing(trader, user, settings, one_call):
    """Unknown symbol 404 market_not_found; a perp on /orders 422 market_kind_mismatch; a
    quantity off BONK's step of 1 422 qty_off_step (stored for its id, like every lot rule)."""
    settings.TRADING_FILL_IN_ONE_CALL = one_call
    set_price(D("0.0000213"), symbol="BONK-USD")
    before = balances_of(user)
    unknown = _order(trader, symbol="DOGE-USD", client_order_id="x1")
    assert unknown.status_code == 404 and unknown.json()["code"] == "market_not_found"
    perp = _order(trader, symbol="SOL-PERP", client_order_id="x2")
    assert perp.status_code == 422 and perp.json()["code"] == "market_kind_mismatch"
    assert perp.json()["extra"]["kind"] == "perp"
    _nothing_changed(user, before)
    off_step = _order(trader, symbol="BONK-USD", qty="100000.5", client_order_id="x3")
    assert off_step.status_code == 422 and off_step.json()["code"] == "qty_off_step"
    assert off_step.json()["extra"]["qty_step"] == "1.000000000"
    assert "BONK" in off_step.json()["message"]
    assert balances_of(user) == before and Order.objects.filter(user=user).count() == 0
    assert_books_ok()


def test_a_halted_market_refuses_buys_lets_holders_sell_and_others_trade(trader, user):
    """Halting BONK-USD in the registry: a buy is 422 market_halted (nothing stored, so the same id
    fills once the halt lifts); a holder still sells; SOL-USD trades on."""
    set_price(D("0.0000213"), symbol="BONK-USD")
    set_price(D("150"))
    assert _order(trader, symbol="BONK-USD", qty="1000000", client_order_id="h0").status_code == 201
    market = Market.objects.get(symbol="BONK-USD")
    market.status = MarketStatus.HALTED
    market.save()  # as the admin does: the registry of this process is cleared at once
    halted = _order(trader, symbol="BONK-USD", qty="1000000", client_order_id="h1")
    assert halted.status_code == 422 and halted.json()["code"] == "market_halted"
    assert not OrderRejection.objects.filter(user=user).exists()
    assert _order(trader, symbol="BONK-USD", side="sell", qty="400000", client_order_id="h2").status_code == 201
    assert _order(trader, symbol="SOL-USD", qty="1", client_order_id="h3").status_code == 201
    market.status = MarketStatus.ACTIVE
    market.save()
    assert _order(trader, symbol="BONK-USD", qty="1000000", client_order_id="h1").status_code == 201
    assert balances_of(user)["BONK"] == D("1600000")
    assert_books_ok()


def test_a_stale_price_on_one_market_leaves_the_others_trading(trader, user):
    """JUP's index goes stale: JUP-USD answers 503 price_stale naming its index, SOL-USD fills."""
    set_price(D("150"))
    set_price(D("0.8"), symbol="JUP-USD", age_seconds=60)
    stale = _order(trader, symbol="JUP-USD", qty="10", client_order_id="s1")
    assert stale.status_code == 503 and stale.json()["code"] == "price_stale"
    assert stale.json()["extra"]["symbol"] == "JUP-USD"
    expire_price("JUP-USD")
    missing = _order(trader, symbol="JUP-USD", qty="10", client_order_id="s1")
    assert missing.status_code == 503 and missing.json()["code"] == "price_unavailable"
    assert _order(trader, symbol="SOL-USD", qty="1", client_order_id="s2").status_code == 201
    assert "JUP" not in balances_of(user)
    assert_books_ok()


@PATHS
def test_a_market_added_as_a_row_trades_with_no_code_change(trader, user, settings, one_call):
    """A new token and its spot market, saved as rows (as ops would in the admin), trade at once
    with their own rules: the fill lands on the new asset's balance and book."""
    settings.TRADING_FILL_IN_ONE_CALL = one_call
    token = Token.objects.create(
        code="ORCA", name="Orca", mint="orcaEKTdK7LKz57vaAYr9QeNsVEPfiu6QeMU1kektZE", decimals=6,
        synthetic_start=D("3"),
    )  # fmt: skip
    Market.objects.create(
        symbol="ORCA-USD", kind="spot", base=token, qty_step=D("0.1"), min_qty=D("0.1"), price_tick=D("0.0001")
    )
    registry_clear()
    set_price(D("3.12345"), symbol="ORCA-USD")
    response = _order(trader, symbol="ORCA-USD", qty="10", client_order_id="orca")
    assert response.status_code == 201, response.json()
    assert D(response.json()["filled_avg_price"]) % D("0.0001") == 0
    assert balances_of(user)["ORCA"] == D("10")
    assert SpotHolding.objects.get(account__user=user, asset="ORCA").qty == D("10")
    assert_books_ok()
