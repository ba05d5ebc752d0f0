"""client_order_id / Idempotency-Key: replay, reuse with another body, rejections are final."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portfolio.models import LedgerEntry
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import clear_price, order_body, set_price
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db


def test_same_id_same_body_replays_the_original_response(trader, user, price150):
    """The second identical request returns the same order with Idempotent-Replayed: true; one fill."""
    first = trader.post("/api/v1/orders", order_body(qty="1"), format="json")
    set_price(Decimal("170"))  # a different price must not matter: nothing is re-executed
    second = trader.post("/api/v1/orders", order_body(qty="1.000"), format="json")
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.json() == second.json()
    assert Fill.objects.count() == 1
    assert balances_of(user)["SOL"] == 1
    assert_books_ok()


def test_same_id_different_body_is_422_idempotency_key_reused(trader, price150):
    """Reusing a client_order_id with another body is refused and changes nothing."""
    trader.post("/api/v1/orders", order_body(qty="1"), format="json")
    entries = LedgerEntry.objects.count()
    response = trader.post("/api/v1/orders", order_body(qty="2"), format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert LedgerEntry.objects.count() == entries
    assert_books_ok()


def test_idempotency_key_header_is_accepted_as_the_client_order_id(trader, price150):
    """The Idempotency-Key header works like client_order_id and is stored as it."""
    body = order_body(client_order_id=...)
    first = trader.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="hdr-1")
    again = trader.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert first.status_code == 201 and first.json()["client_order_id"] == "hdr-1"
    assert again.headers["Idempotent-Replayed"] == "true"
    mismatch = trader.post("/api/v1/orders", order_body(client_order_id="x"), format="json", HTTP_IDEMPOTENCY_KEY="y")
    assert mismatch.status_code == 422
    assert mismatch.json()["code"] == "idempotency_key_mismatch"
    assert Order.objects.count() == 1


def test_business_rejection_is_final_for_its_id(trader, user, price150):
    """An insufficient_funds rejection is replayed for the same id even after funds would allow it."""
    first = trader.post("/api/v1/orders", order_body(qty="100", client_order_id="big"), format="json")
    assert first.json()["code"] == "insufficient_funds"
    set_price(Decimal("1"))  # now affordable, but the id's answer is final
    again = trader.post("/api/v1/orders", order_body(qty="100", client_order_id="big"), format="json")
    assert again.status_code == 422
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = trader.post("/api/v1/orders", order_body(qty="5", client_order_id="big"), format="json")
    assert other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 0
    assert_books_ok()


def test_unavailability_is_not_stored_so_the_id_can_be_retried(trader):
    """A 503 for a missing price leaves the id free."""
    clear_price()
    assert trader.post("/api/v1/orders", order_body(), format="json").status_code == 503
    set_price(Decimal("150"))
    response = trader.post("/api/v1/orders", order_body(), format="json")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_ids_are_per_user(trader, client_for, price150):
    """Two users may use the same client_order_id independently."""
    other = client_for(make_user())
    assert trader.post("/api/v1/orders", order_body(), format="json").status_code == 201
    response = other.post("/api/v1/orders", order_body(qty="2"), format="json")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert_books_ok()
