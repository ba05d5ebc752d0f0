"""Bad position inputs are refused with a stable code and change nothing."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from portfolio.models import LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, open_body, open_position
from trading.models import Position

pytestmark = pytest.mark.django_db


def _unchanged(user, before) -> None:
    assert balances_of(user) == before
    assert Position.objects.filter(user=user).count() == 0
    assert_books_ok()


@pytest.mark.parametrize(
    ("value", "code"),
    [("0", "not_positive"), ("-1", "not_positive"), ("21", "too_large"), ("0.5", "below_min"), ("abc", "invalid"),
     (True, "invalid_type"), (None, "null"), ("1e3", "invalid"), ("5.123", "max_decimal_places")],
)  # fmt: skip
def test_bad_leverage_is_400_naming_the_field(trader, user, price150, value, code):
    """Leverage 0, negative, above the maximum (20), below 1, non-numeric: 400 validation_error on leverage."""
    before = balances_of(user)
    response = trader.post("/api/v1/positions", open_body(leverage=value), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]["leverage"][0]["code"] == code
    _unchanged(user, before)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("margin", "0", "not_positive"), ("margin", "-5", "not_positive"), ("margin", "x", "invalid"),
     ("side", "up", "invalid_choice"), ("symbol", 7, "invalid"), ("fee", "0", "unknown_field")],
)  # fmt: skip
def test_other_bad_fields(trader, user, price150, field, value, code):
    """Bad margin, side, symbol (not text) or an unknown field: 400 naming it. (A symbol the
    registry does not know is 404 market_not_found: test_positions_markets.)"""
    before = balances_of(user)
    response = trader.post("/api/v1/positions", open_body(**{field: value}), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"][field][0]["code"] == code
    _unchanged(user, before)


def test_margin_and_qty_are_exclusive(trader, user, price150):
    """Both or neither of margin/qty is a 400."""
    assert trader.post("/api/v1/positions", open_body(qty="1"), format="json").status_code == 400
    assert trader.post("/api/v1/positions", open_body(margin=...), format="json").status_code == 400


def test_margin_above_free_balance_is_422_and_changes_nothing(trader, user, price150):
    """20,000 USD of margin with 10,000 free: 422 insufficient_funds, no position, no ledger row; replayed the same."""
    before = balances_of(user)
    txns = LedgerTransaction.objects.count()
    response = trader.post("/api/v1/positions", open_body(margin="20000", leverage="2"), format="json")
    assert response.status_code == 422 and response.json()["code"] == "insufficient_funds"
    assert LedgerTransaction.objects.count() == txns
    again = trader.post("/api/v1/positions", open_body(margin="20000", leverage="2"), format="json")
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    _unchanged(user, before)


def test_notional_above_the_maximum_is_422(trader, user, price150, settings):
    """Margin x leverage above the market's max_notional is the rule notional_above_max."""
    market_set("SOL-PERP", max_notional=D(10000))
    before = balances_of(user)
    response = trader.post("/api/v1/positions", open_body(margin="1000", leverage="20"), format="json")
    assert response.status_code == 422 and response.json()["code"] == "notional_above_max"
    _unchanged(user, before)


def test_closing_a_closed_position_is_409(trader, user, price150):
    """A second close of the same position: 409 position_not_open; balances unchanged by it."""
    position = open_position(trader)
    url = f"/api/v1/positions/{position['id']}/close"
    assert trader.post(url, {"client_order_id": "c-1"}, format="json").status_code == 200
    before = balances_of(user)
    response = trader.post(url, {"client_order_id": "c-2"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "position_not_open"
    assert balances_of(user) == before
    assert_books_ok()


def test_close_bad_qty_and_unknown_id(trader, user, price150):
    """Close qty 0 -> 400; no client_order_id -> 400; an unknown uuid -> 404 not_found; a non-uuid
    path -> 404."""
    position = open_position(trader)
    url = f"/api/v1/positions/{position['id']}/close"
    assert trader.post(url, {"qty": "0", "client_order_id": "c-1"}, format="json").status_code == 400
    missing_id = trader.post(url, {}, format="json")
    assert missing_id.status_code == 400 and "client_order_id" in missing_id.json()["extra"]["fields"]
    missing = "/api/v1/positions/00000000-0000-0000-0000-000000000000/close"
    assert trader.post(missing, {"client_order_id": "c-2"}, format="json").json()["code"] == "not_found"
    assert trader.post("/api/v1/positions/nope/close", {}, format="json").status_code == 404
    assert_books_ok()


def test_stale_price_is_503_and_not_stored(trader, user):
    """No fresh price: 503 price_stale with Retry-After; the same id can be retried later."""
    set_price(D(150), age_seconds=3600)
    response = trader.post("/api/v1/positions", open_body(), format="json")
    assert response.status_code == 503 and response.headers["Retry-After"]
    set_price(D(150))
    assert trader.post("/api/v1/positions", open_body(), format="json").status_code == 201
    assert_books_ok()


def test_read_only_api_key_cannot_open(user, price150):
    """An API key without the trade scope may read positions but not open one (403 scope_missing)."""
    from tests.portfolio.helpers import authed_client

    client = authed_client(user, "read")
    assert client.post("/api/v1/positions", open_body(), format="json").status_code == 403
    assert client.get("/api/v1/positions").status_code == 200
