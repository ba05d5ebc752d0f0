"""Partial closes follow the lot rules and are idempotent (issue 14, item 6).

At 150, margin 100 x10: qty 6.666666666 SOL (margin-sized opens are lamport-precise). A close
names a lot (at least 0.001 SOL, a multiple of 0.001) and never leaves less than 0.001 open.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.position_helpers import open_position
from trading.models import Position, PositionEvent, PositionRejection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)


def _close(trader, position_id: str, **body):
    return trader.post(f"/api/v1/positions/{position_id}/close", body, format="json")


@pytest.mark.parametrize(
    ("qty", "code"),
    [
        ("0.000000099", "qty_below_min"),  # 99 lamports: released margin would floor to 0
        ("0.0015", "qty_off_step"),
        ("6.666", "close_leaves_dust"),  # 0.000666666 SOL would stay open
        ("7", "qty_exceeds_position"),
    ],
)
def test_a_close_off_the_lot_rules_is_422_and_changes_nothing(trader, user, price150, qty, code):
    position = open_position(trader)
    before = balances_of(user)
    response = _close(trader, position["id"], qty=qty, client_order_id="c-1")
    assert response.status_code == 422 and response.json()["code"] == code, response.content
    assert balances_of(user) == before
    assert Position.objects.get(pk=position["id"]).qty == D(position["qty"])
    assert not PositionEvent.objects.filter(position_id=position["id"], kind="close").exists()
    again = _close(trader, position["id"], qty=qty, client_order_id="c-1")  # the stored answer
    assert again.json()["code"] == code and again["Idempotent-Replayed"] == "true"
    assert PositionRejection.objects.filter(client_order_id="c-1").count() == 1
    assert_books_ok()


def test_a_valid_lot_releases_its_share_of_the_margin(trader, user, price150):
    """Close 0.001 of 6.666666666: margin released 100 * 0.001 / 6.666666666, floored to micro-USD
    (0.015 USD), never 0; a full close (no qty) of the odd remainder is always allowed."""
    position = open_position(trader)
    response = _close(trader, position["id"], qty="0.001", client_order_id="c-1")
    assert response.status_code == 200, response.content
    assert D(response.json()["close"]["margin"]) == D("0.015")
    rest = _close(trader, position["id"], client_order_id="c-2")
    assert rest.status_code == 200 and rest.json()["position"]["status"] == "closed"
    assert balances_of(user)["USD_locked"] == 0
    assert_books_ok()


def test_a_partial_close_is_idempotent_by_client_order_id(trader, user, price150):
    """The same id and qty again replays the first close (one close event, the same answer); the
    same id with another qty is 422 idempotency_key_reused; the Idempotency-Key header works too."""
    position = open_position(trader)
    first = _close(trader, position["id"], qty="1", client_order_id="c-1")
    assert first.status_code == 200
    after = balances_of(user)
    again = _close(trader, position["id"], qty="1", client_order_id="c-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["close"] == first.json()["close"]
    assert balances_of(user) == after
    assert PositionEvent.objects.filter(position_id=position["id"], kind="close").count() == 1
    reused = _close(trader, position["id"], qty="2", client_order_id="c-1")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    url = f"/api/v1/positions/{position['id']}/close"
    by_header = trader.post(url, {"qty": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
    replayed = trader.post(url, {"qty": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
    assert by_header.status_code == 200 and replayed["Idempotent-Replayed"] == "true"
    assert Position.objects.get(pk=position["id"]).qty == D(position["qty"]) - 2
    assert_books_ok()
