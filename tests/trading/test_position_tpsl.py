"""Take-profit / stop-loss on perp positions, set at open and by PATCH: where each may sit, every
422 code, bad input changing nothing, owner and state checks.

Figures (no slippage, fee 10 bps, SOL-PERP mmr 0.5%): a long of margin 100 at 10x at index 100
has qty 10, entry 100, fee 1 and liquidation price (100 - 10) / 0.995 = 90.452261306... -> up to
the tick 90.452262; a short the same way has (100 + 10) / 1.005 = 109.452736318... -> 109.452736.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.position_helpers import open_body, open_position, perp_book_setup, user_events
from trading.models import Position, PositionRejection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    perp_book_setup(settings, POSITION_FEE_BPS=D(10), TRADING_PRICE_BAND_PCT=D(50))


def test_set_at_open_and_shown_in_the_position_and_its_event(trader, user):
    """A long opened with TP 110 and SL 95 carries both (JSON and position_update); the money is
    the plain open's: free 10000 - 100 - 1 = 9899, locked 100."""
    body = open_position(trader, take_profit_price="110", stop_loss_price="95")
    assert (D(body["take_profit_price"]), D(body["stop_loss_price"])) == (D(110), D(95))
    assert D(body["liquidation_price"]) == D("90.452262")
    row = Position.objects.get()
    assert (row.take_profit_price, row.stop_loss_price) == (D(110), D(95))
    update = user_events(user, "position_update")[-1]["data"]
    assert (update["reason"], update["take_profit_price"], update["stop_loss_price"]) == (
        "opened",
        "110.000000000",
        "95.000000000",
    )
    assert balances_of(user)["USD"] == D(9899) and balances_of(user)["USD_locked"] == D(100)
    assert_books_ok()


def test_short_mirrored_at_open(trader):
    """A short's TP sits below the index and its SL above, short of its liquidation 109.452736."""
    body = open_position(trader, side="short", take_profit_price="90", stop_loss_price="109.452735")
    assert (D(body["take_profit_price"]), D(body["stop_loss_price"])) == (D(90), D("109.452735"))


@pytest.mark.parametrize(
    ("side", "fields", "code"),
    [
        ("long", {"take_profit_price": "100"}, "take_profit_wrong_side"),  # at the index: not above it
        ("long", {"take_profit_price": "99"}, "take_profit_wrong_side"),
        ("long", {"stop_loss_price": "101"}, "stop_loss_wrong_side"),
        ("long", {"stop_loss_price": "90.452262"}, "stop_beyond_liquidation"),  # at the liquidation price
        ("long", {"stop_loss_price": "90"}, "stop_beyond_liquidation"),
        ("long", {"take_profit_price": "150.000001"}, "price_out_of_band"),  # band 50%: at most 150
        ("long", {"take_profit_price": "110.0000001"}, "price_off_tick"),  # SOL-PERP's tick is 0.000001
        ("short", {"take_profit_price": "101"}, "take_profit_wrong_side"),
        ("short", {"stop_loss_price": "99"}, "stop_loss_wrong_side"),
        ("short", {"stop_loss_price": "109.452736"}, "stop_beyond_liquidation"),
        ("short", {"stop_loss_price": "120"}, "stop_beyond_liquidation"),
    ],
)
def test_bad_prices_at_open_are_422_and_open_nothing(trader, user, side, fields, code):
    before = balances_of(user)
    response = trader.post("/api/v1/positions", open_body(side=side, **fields), format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == code
    assert not Position.objects.exists() and balances_of(user) == before
    assert_books_ok()


def test_a_rejection_at_open_is_stored_for_its_id_and_an_off_tick_one_is_not(trader):
    """Like every rule of the maths, a TP/SL refusal is final for its client_order_id (the same
    answer on retry); an off-tick price is refused before the command and stores nothing."""
    bad = open_body(stop_loss_price="101", client_order_id="p-bad")
    assert trader.post("/api/v1/positions", bad, format="json").json()["code"] == "stop_loss_wrong_side"
    assert trader.post("/api/v1/positions", bad, format="json").json()["code"] == "stop_loss_wrong_side"
    off = open_body(stop_loss_price="95.0000001", client_order_id="p-off")
    assert trader.post("/api/v1/positions", off, format="json").json()["code"] == "price_off_tick"
    assert list(PositionRejection.objects.values_list("client_order_id", flat=True)) == ["p-bad"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", True, "1e2"])
def test_non_positive_or_malformed_prices_are_400(trader, value):
    response = trader.post("/api/v1/positions", open_body(take_profit_price=value), format="json")
    assert response.status_code == 400 and "take_profit_price" in response.json()["extra"]["fields"]
    assert not Position.objects.exists()


def test_tpsl_on_an_order_that_only_reduces_the_other_side_is_refused(trader, user):
    """A short order against a long of 10 that reduces it (qty 4) leaves no short to carry a TP/SL:
    422 tpsl_on_reduce, the long untouched."""
    open_position(trader)
    before = balances_of(user)
    body = open_body(side="short", margin=..., qty="4", client_order_id="p-2", take_profit_price="90")
    response = trader.post("/api/v1/positions", body, format="json")
    assert response.status_code == 422 and response.json()["code"] == "tpsl_on_reduce"
    assert Position.objects.get().qty == D(10) and balances_of(user) == before


def test_an_increase_that_moves_the_liquidation_price_past_the_kept_stop_is_refused(trader, user):
    """Long 10x (liq 90.452262) with SL 91; adding margin 100 at 20x (qty 20 more at 100) makes
    margin 200 for qty 30: liq (100 - 200/30) / 0.995 = 93.802345... -> 93.802346, above the SL:
    422 stop_beyond_liquidation, nothing added. With the SL moved to 94 in the same order it goes."""
    open_position(trader, stop_loss_price="91")
    before = balances_of(user)
    more = open_body(leverage="20", client_order_id="p-2")
    response = trader.post("/api/v1/positions", more, format="json")
    assert response.status_code == 422 and response.json()["code"] == "stop_beyond_liquidation"
    assert Position.objects.get().qty == D(10) and balances_of(user) == before
    grown = open_position(trader, leverage="20", client_order_id="p-3", stop_loss_price="94")
    assert (D(grown["qty"]), D(grown["liquidation_price"]), D(grown["stop_loss_price"])) == (
        D(30),
        D("93.802346"),
        D(94),
    )
    assert_books_ok()


def test_patch_sets_changes_and_clears(trader, user):
    """PATCH sets one price and keeps the other; null clears; each change is a position_update
    (reason tpsl_updated); no money moves."""
    position = open_position(trader, take_profit_price="110")
    url = f"/api/v1/positions/{position['id']}"
    before = balances_of(user)
    response = trader.patch(url, {"stop_loss_price": "95"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["take_profit_price"], response.json()["stop_loss_price"]) == (
        "110.000000000",
        "95.000000000",
    )
    response = trader.patch(url, {"take_profit_price": None, "stop_loss_price": "96"}, format="json")
    assert response.status_code == 200
    row = Position.objects.get()
    assert (row.take_profit_price, row.stop_loss_price) == (None, D(96))
    assert trader.get(url).json()["stop_loss_price"] == "96.000000000"
    updates = [e["data"] for e in user_events(user, "position_update")]
    assert [u["reason"] for u in updates] == ["opened", "tpsl_updated", "tpsl_updated"]
    assert (updates[-1]["take_profit_price"], updates[-1]["stop_loss_price"]) == (None, "96.000000000")
    assert balances_of(user) == before
    assert_books_ok()


def test_patch_clearing_needs_no_price(trader):
    """Clearing is allowed even while the index is stale (nothing to check it against)."""
    from tests.trading.helpers import expire_price

    position = open_position(trader, take_profit_price="110", stop_loss_price="95")
    expire_price()
    url = f"/api/v1/positions/{position['id']}"
    assert trader.patch(url, {"take_profit_price": "111"}, format="json").status_code == 503
    response = trader.patch(url, {"take_profit_price": None, "stop_loss_price": None}, format="json")
    assert response.status_code == 200 and response.json()["take_profit_price"] is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"take_profit_price": "100"}, "take_profit_wrong_side"),
        ({"stop_loss_price": "100.5"}, "stop_loss_wrong_side"),
        ({"stop_loss_price": "90.45"}, "stop_beyond_liquidation"),
        ({"stop_loss_price": "60"}, "stop_beyond_liquidation"),
        ({"take_profit_price": "151"}, "price_out_of_band"),
        ({"take_profit_price": "110.0000005"}, "price_off_tick"),
        ({"take_profit_price": "120", "stop_loss_price": "101"}, "stop_loss_wrong_side"),  # one bad: none set
    ],
)
def test_patch_bad_prices_are_422_and_change_nothing(trader, user, fields, code):
    position = open_position(trader, take_profit_price="110", stop_loss_price="95")
    events = len(user_events(user, "position_update"))
    response = trader.patch(f"/api/v1/positions/{position['id']}", fields, format="json")
    assert response.status_code == 422 and response.json()["code"] == code, response.json()
    row = Position.objects.get()
    assert (row.take_profit_price, row.stop_loss_price) == (D(110), D(95))
    assert len(user_events(user, "position_update")) == events


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "required"), ({"take_profit_price": "110", "qty": "1"}, "unknown_field"), ({"stop_loss_price": 0}, "")],
)
def test_patch_bad_bodies_are_400(trader, body, code):
    position = open_position(trader)
    response = trader.patch(f"/api/v1/positions/{position['id']}", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"


def test_patch_someone_elses_or_an_ended_position(trader, client_for):
    """Another trader's (or an unknown) position is 404; a closed one 409 position_not_open."""
    position = open_position(trader)
    url = f"/api/v1/positions/{position['id']}"
    other = client_for(make_user())
    assert other.patch(url, {"take_profit_price": "110"}, format="json").status_code == 404
    assert trader.post(f"{url}/close", {"client_order_id": "c-1"}, format="json").status_code == 200
    response = trader.patch(url, {"take_profit_price": "110"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "position_not_open"


def test_patch_needs_the_trade_scope(user):
    from tests.portfolio.helpers import authed_client

    position = open_position(authed_client(user))
    reader = authed_client(user, "read")
    url = f"/api/v1/positions/{position['id']}"
    assert reader.get(url).status_code == 200
    response = reader.patch(url, {"take_profit_price": "110"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "scope_missing"


def test_a_manual_close_clears_both(trader):
    position = open_position(trader, take_profit_price="110", stop_loss_price="95")
    closed = trader.post(f"/api/v1/positions/{position['id']}/close", {"client_order_id": "c-1"}, format="json")
    assert closed.status_code == 200
    body = closed.json()["position"]
    assert (body["status"], body["take_profit_price"], body["stop_loss_price"]) == ("closed", None, None)
