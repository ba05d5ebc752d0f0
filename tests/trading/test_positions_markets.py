"""Positions per market (issue 17): any perp row of the registry trades, with its own rules and
its own index; a halted market refuses new exposure but still closes and liquidates; one index's
tick or staleness never touches another market."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from portfolio.models import LedgerTransaction
from pricing.aggregate import IndexPrice
from pricing.models import Market, Token
from pricing.services.ticks import price_tick_accept
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import index_tick, market_set, open_body, open_position, set_index_price
from trading.models import Position, PositionOrder, PositionStatus
from trading.position_totals import position_totals
from trading.tasks import liquidation_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_impact(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    settings.POSITION_FEE_BPS = D(10)


def _tick(index_symbol: str, price: D) -> None:
    """An accepted tick through pricing (record, candle, event, then the engine's hook)."""
    index = IndexPrice(price=price, bid=None, ask=None, sources=("synthetic",), dispersion=D(0), usd_prices={})
    price_tick_accept(index=index, mode="synthetic", computed_at=datetime.now(timezone.utc), symbol=index_symbol)


def _nothing_changed(user, before) -> None:
    assert balances_of(user) == before
    assert not Position.objects.filter(user=user).exists()
    assert not PositionOrder.objects.filter(user=user).exists()
    assert_books_ok()


def test_a_new_market_row_opens_and_liquidates_with_no_code_change(trader, user):
    """A Token and a perp Market row added at run time: a synthetic tick prices it, a position
    opens on its rules (leverage up to 5, entry on its 0.0001 tick, liq by its mmr 2%), and a
    tick on its index liquidates it; SOL's position is untouched."""
    token = Token.objects.create(
        code="TST", name="Test token", mint="TstMint1111111111111111111111111111111111111", decimals=6,
        synthetic_start=D("2.5"),
    )  # fmt: skip
    Market.objects.create(
        symbol="TST-PERP", kind="perp", base=token, qty_step=D("0.1"), min_qty=D("0.1"), price_tick=D("0.0001"),
        max_leverage=D(5), mmr=D("0.02"),
    )  # fmt: skip
    set_price(D(150))
    sol = open_position(trader, client_order_id="sol-1")
    _tick("TST-USD", D("2.5"))
    assert trader.post("/api/v1/positions", open_body(symbol="TST-PERP", leverage="6", client_order_id="t-0"),
                       format="json").status_code == 400  # fmt: skip  # above this market's max leverage
    opened = open_position(trader, symbol="TST-PERP", margin="100", leverage="5", client_order_id="t-1")
    assert opened["symbol"] == "TST-PERP" and D(opened["entry_price"]) == D("2.5")
    assert D(opened["qty"]) == D(200) and D(opened["mmr"]) == D("0.02")
    # long: (2.5 - 100/200) / (1 - 0.02) = 2.0408163... -> up to the 0.0001 tick
    assert D(opened["liquidation_price"]) == D("2.0409")
    _tick("TST-USD", D("2.04"))
    tst = Position.objects.get(pk=opened["id"])
    assert tst.status == PositionStatus.LIQUIDATED and tst.exit_price == D("2.04")
    assert Position.objects.get(pk=sol["id"]).status == PositionStatus.OPEN
    assert_books_ok()


def test_a_halted_market_refuses_new_exposure_but_closes_and_liquidates(trader, user, client_for):
    """Halted SOL-PERP: a new open and an increase are 422 market_halted with nothing written; a
    reduce, an order that would flip (it only closes) and a close go through; the engine still
    liquidates on the halted market."""
    set_price(D(100))
    open_position(trader, margin="100", leverage="10", client_order_id="a-1")  # long 10
    other = client_for(make_user())
    victim = open_position(other, margin="10", leverage="20", client_order_id="v-1")
    newcomer = make_user()
    market_set("SOL-PERP", status="halted")
    before = balances_of(newcomer)
    refused = client_for(newcomer).post("/api/v1/positions", open_body(client_order_id="n-1"), format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "market_halted"
    _nothing_changed(newcomer, before)
    increase = trader.post("/api/v1/positions", open_body(client_order_id="a-2"), format="json")
    assert increase.status_code == 422 and increase.json()["code"] == "market_halted"
    assert not PositionOrder.objects.filter(client_order_id="a-2").exists()  # not stored: retry after
    reduced = trader.post("/api/v1/positions", open_body(side="short", qty="4", margin=..., client_order_id="a-3"),
                          format="json")  # fmt: skip
    assert reduced.status_code == 201 and D(reduced.json()["qty"]) == D(6)
    flip = trader.post("/api/v1/positions", open_body(side="short", qty="10", margin=..., client_order_id="a-4"),
                       format="json")  # fmt: skip
    assert flip.status_code == 201 and flip.json()["status"] == "closed"
    assert not Position.objects.filter(user=user, status="open").exists()  # the rest did not open
    assert PositionOrder.objects.get(client_order_id="a-4").action == "close"
    assert index_tick("SOL-USD", D(95)) == [victim["id"]]
    assert_books_ok()


def test_close_on_a_halted_market_goes_through(trader, user):
    """The close endpoint never asks whether the market is halted."""
    set_price(D(100))
    position = open_position(trader)
    market_set("SOL-PERP", status="halted")
    response = trader.post(f"/api/v1/positions/{position['id']}/close", {"client_order_id": "c-1"}, format="json")
    assert response.status_code == 200 and response.json()["position"]["status"] == "closed"
    assert_books_ok()


def test_a_stale_bonk_price_leaves_sol_perp_trading(trader, user):
    """BONK-USD 60 s old: BONK-PERP is 503 price_stale (nothing written) while SOL-PERP opens, its
    sweep still liquidates SOL, and a BONK tick never touches SOL's positions."""
    set_price(D(100))
    set_index_price("BONK-USD", D("0.0000213"), age_seconds=60)
    stale = trader.post("/api/v1/positions", open_body(symbol="BONK-PERP", client_order_id="b-1"), format="json")
    assert stale.status_code == 503 and stale.json()["code"] == "price_stale"
    assert stale.json()["extra"]["symbol"] == "BONK-USD"
    sol = open_position(trader, client_order_id="s-1")
    assert index_tick("BONK-USD", D("0.00001")) == []  # would cross every SOL long if it leaked
    assert Position.objects.get(pk=sol["id"]).status == PositionStatus.OPEN
    set_price(D(80))
    assert liquidation_sweep() == 1
    assert Position.objects.get(pk=sol["id"]).status == PositionStatus.LIQUIDATED
    assert_books_ok()


def test_bonk_perp_hand_computed(trader, user, settings):
    """BONK-PERP at 0.0000213, 250,000,000 BONK at 10x, spread 2 bps (1 bp per side):
    entry 0.0000213 * 1.0001 = 0.00002130213 -> up to the 1e-9 tick 0.000021303;
    notional 250e6 * 0.000021303 = 5325.75, margin 532.575, fee 10 bps 5.32575;
    liq (0.000021303 - 532.575/250e6) / (1 - 0.01) = 0.0000191727 / 0.99 = 0.00001936636... -> 0.000019367;
    close at 0.000022: exit 0.0000219978 -> down to 0.000021997; pnl 250e6 * 0.000000694 = 173.5;
    fee 5.49925; paid back 532.575 + 173.5 - 5.49925 = 700.57575. USD 10000 -> 10162.675."""
    settings.TRADING_SPREAD_BPS = D(2)
    set_index_price("BONK-USD", D("0.0000213"))
    before = balances_of(user)["USD"]
    opened = open_position(trader, symbol="BONK-PERP", qty="250000000", margin=..., client_order_id="b-1")
    assert D(opened["entry_price"]) == D("0.000021303")
    assert D(opened["margin"]) == D("532.575") and D(opened["fee"]) == D("5.32575")
    assert D(opened["liquidation_price"]) == D("0.000019367") and D(opened["slippage_bps"]) == D("1.4085")
    assert balances_of(user)["USD"] == before - D("532.575") - D("5.32575")
    assert balances_of(user)["USD_locked"] == D("532.575")
    set_index_price("BONK-USD", D("0.000022"))
    response = trader.post(f"/api/v1/positions/{opened['id']}/close", {"client_order_id": "b-2"}, format="json")
    assert response.status_code == 200, response.content
    close = response.json()["close"]
    assert D(close["price"]) == D("0.000021997") and D(close["realized_pnl"]) == D("173.5")
    assert D(close["fee"]) == D("5.49925")
    balances = balances_of(user)
    assert balances["USD"] == D("10162.675") and balances["USD_locked"] == 0
    assert_books_ok()  # every transaction sums to zero per asset; balances equal their entries


def test_bonk_perp_liquidated_at_its_liquidation_price(trader, user):
    """The same BONK long (no slippage: entry 0.0000213, margin 532.5, liq (0.0000213 -
    0.00000213) / 0.99 = 0.000019363636... -> 0.000019364): a tick at 0.000019364 liquidates it;
    pnl 250e6 * -0.000001936 = -484, insurance gets 532.5 - 484 = 48.5; the trader loses the margin."""
    set_index_price("BONK-USD", D("0.0000213"))
    opened = open_position(trader, symbol="BONK-PERP", qty="250000000", margin=..., client_order_id="b-1")
    assert D(opened["liquidation_price"]) == D("0.000019364") and D(opened["margin"]) == D("532.5")
    free = balances_of(user)["USD"]
    assert index_tick("BONK-USD", D("0.000019365")) == []
    assert index_tick("BONK-USD", D("0.000019364")) == [opened["id"]]
    event = Position.objects.get(pk=opened["id"]).events.get(kind="liquidation")
    assert event.insurance == D("48.5") and event.margin == D("532.5")
    assert balances_of(user)["USD"] == free and balances_of(user)["USD_locked"] == 0
    assert_books_ok()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"symbol": "DOGE-PERP"}, 404, "market_not_found"), ({"symbol": "SOL-USD"}, 422, "market_kind_mismatch"),
     ({"symbol": "BONK-PERP", "qty": "1000.5", "margin": ...}, 422, "qty_off_step"),
     ({"symbol": "BONK-PERP", "leverage": "11"}, 400, "validation_error")],
)  # fmt: skip
def test_bad_market_inputs_change_nothing(trader, user, body, status, code):
    """Unknown symbol 404, a spot symbol 422 market_kind_mismatch, a qty off BONK's step of 1 422
    qty_off_step, leverage above BONK-PERP's 10: each a 4xx with its code and nothing changed."""
    set_index_price("BONK-USD", D("0.0000213"))
    before = balances_of(user)
    response = trader.post("/api/v1/positions", open_body(**body), format="json")
    assert response.status_code == status and response.json()["code"] == code, response.content
    assert balances_of(user) == before and not Position.objects.filter(user=user).exists()
    assert not LedgerTransaction.objects.filter(reference_type="position").exists()
    assert_books_ok()


def test_seed_open_names_the_market_by_asset_and_refuses_a_price_off_tick(trader, user):
    """/positions/open with asset BONK opens on BONK-PERP; a currentPrice off SOL-PERP's 0.000001
    tick is 422 price_off_tick; an asset without a perp market is 404 market_not_found."""
    set_price(D(150))
    set_index_price("BONK-USD", D("0.0000213"))
    seed = {"margin": "100", "type": "long", "leverage": "5", "slippage": "1"}
    bonk = trader.post("/api/v1/positions/open", {**seed, "asset": "BONK", "currentPrice": "0.0000213"},
                       format="json")  # fmt: skip
    assert bonk.status_code == 200, bonk.content
    assert bonk.json()["asset"] == "BONK" and Position.objects.get().symbol == "BONK-PERP"
    before = balances_of(user)
    off = trader.post("/api/v1/positions/open", {**seed, "asset": "SOL", "currentPrice": "150.0000001"},
                      format="json")  # fmt: skip
    assert off.status_code == 422 and off.json()["code"] == "price_off_tick"
    none = trader.post("/api/v1/positions/open", {**seed, "asset": "PYTH", "currentPrice": "1"}, format="json")
    assert none.status_code == 404 and none.json()["code"] == "market_not_found"
    assert balances_of(user) == before and Position.objects.count() == 1
    assert_books_ok()


def test_position_totals_value_each_position_at_its_own_index(trader, user):
    """prices maps index symbols: SOL and BONK priced -> uPnL summed; BONK missing -> margin only
    (unrealized and notional None for that account)."""
    set_price(D(100))
    set_index_price("BONK-USD", D("0.00002"))
    open_position(trader, margin="100", leverage="10", client_order_id="s-1")  # long 10 SOL @ 100
    open_position(trader, symbol="BONK-PERP", qty="10000000", margin=..., leverage="10", client_order_id="b-1")
    account_id = Position.objects.values_list("account_id", flat=True)[0]
    both = position_totals(account_ids=[account_id], prices={"SOL-USD": D(110), "BONK-USD": D("0.00003")})[account_id]
    assert both.open_count == 2 and both.margin == D(100) + D(20)
    assert both.unrealized_pnl == 10 * D(10) + 10_000_000 * D("0.00001")
    assert both.notional == D(1100) + D(300)
    sol_only = position_totals(account_ids=[account_id], prices={"SOL-USD": D(110)})[account_id]
    assert sol_only.margin == D(120) and sol_only.unrealized_pnl is None and sol_only.notional is None
