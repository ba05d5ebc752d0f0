"""Bad order bodies are answered 400 (validation, with the field and a code) and change nothing."""

from __future__ import annotations

import pytest

from portfolio.models import LedgerEntry, LedgerTransaction
from tests.portfolio.helpers import assert_books_ok
from tests.trading.helpers import order_body
from trading.models import Order, OrderRejection

pytestmark = pytest.mark.django_db

DECIMAL_CASES = [
    ("0", "not_positive"),
    (0, "not_positive"),
    ("-1", "not_positive"),
    (-1, "not_positive"),
    ("-0", "not_positive"),
    ("NaN", "invalid"),
    ("Infinity", "invalid"),
    ("1e400", "invalid"),
    ("0.0000000001", "max_decimal_places"),
    ("1" + "0" * 40, "too_large"),
    (True, "invalid_type"),
    (False, "invalid_type"),
    (None, "null"),
    (" 1", "invalid"),
    ("1 ", "invalid"),
    ("1,5", "invalid"),
    ("1,000", "invalid"),
    ("", "invalid"),
    ([], "invalid_type"),
    ({}, "invalid_type"),
    ("0x10", "invalid"),
]


def _nothing_written(before: int) -> None:
    assert Order.objects.count() == 0
    assert OrderRejection.objects.count() == 0
    assert LedgerTransaction.objects.count() == before
    assert_books_ok()


@pytest.mark.parametrize(("value", "code"), DECIMAL_CASES)
def test_bad_qty_is_400_naming_the_field(trader, price150, value, code):
    """Each malformed qty is refused 400 validation_error with extra.fields.qty[].code."""
    before = LedgerTransaction.objects.count()
    response = trader.post("/api/v1/orders", order_body(qty=value), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["extra"]["fields"]["qty"][0]["code"] == code
    _nothing_written(before)


@pytest.mark.parametrize(("value", "code"), [("0", "not_positive"), ("1.0000001", "max_decimal_places")])
def test_bad_notional_is_400(trader, price150, value, code):
    """notional obeys the same strict parsing with 6 decimal places."""
    response = trader.post("/api/v1/orders", order_body(qty=..., notional=value), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["notional"][0]["code"] == code


@pytest.mark.parametrize(
    "raw",
    [
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":1e400,"client_order_id":"a"}',
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":1E+40,"client_order_id":"a"}',
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":0.0000000001,"client_order_id":"a"}',
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":-0.0,"client_order_id":"a"}',
    ],
)
def test_raw_json_numbers_are_refused_with_the_field(trader, price150, raw):
    """JSON number literals (parsed as Decimal) out of range are 400 on qty."""
    response = trader.post("/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400
    assert "qty" in response.json()["extra"]["fields"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":NaN,"client_order_id":"a"}',
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":Infinity,"client_order_id":"a"}',
        '{"symbol":"SOL-USD","side":"buy","type":"market","qty":"1","qty":"2","client_order_id":"a"}',
        "not json",
        '{"symbol":',
        "[" * 20000 + "]" * 20000,
        '{"a":' * 20000 + "1" + "}" * 20000,
    ],
)
def test_non_json_and_hostile_json_is_400_malformed(trader, price150, raw):
    """NaN/Infinity literals, duplicate keys, garbage and 20,000-deep nesting: 400 malformed_request."""
    before = LedgerTransaction.objects.count()
    response = trader.post("/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    _nothing_written(before)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("symbol", 5, "invalid"),
        ("symbol", "X" * 25, "max_length"),
        ("side", "short", "invalid_choice"),
        ("side", True, "invalid_choice"),
        ("type", "trailing_stop", "invalid_choice"),
        ("symbol", ..., "required"),
        ("side", ..., "required"),
        ("client_order_id", "has space", "invalid"),
        ("client_order_id", "x" * 65, "max_length"),
        ("client_order_id", "", "blank"),
        ("client_order_id", 123, "invalid"),
        ("client_order_id", ..., "required"),
        ("client_order_id", "héllo", "invalid"),
    ],
)
def test_bad_fields_are_400_with_field_and_code(trader, price150, field, value, code):
    """Unknown symbol/side/type, missing fields, bad client ids: 400 naming the field and code."""
    response = trader.post("/api/v1/orders", order_body(**{field: value}), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["extra"]["fields"][field][0]["code"] == code
    assert Order.objects.count() == 0


@pytest.mark.parametrize("extra_field", ["user", "fee", "status", "price", "filled_qty", "id"])
def test_extra_fields_are_refused(trader, price150, extra_field):
    """Fields the client may not set are 400 unknown_field, never silently ignored."""
    response = trader.post("/api/v1/orders", order_body(**{extra_field: "1"}), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"][extra_field][0]["code"] == "unknown_field"
    assert Order.objects.count() == 0


def test_both_or_neither_qty_and_notional(trader, price150):
    """Exactly one of qty and notional."""
    both = trader.post("/api/v1/orders", order_body(notional="100"), format="json")
    neither = trader.post("/api/v1/orders", order_body(qty=...), format="json")
    assert both.status_code == neither.status_code == 400
    assert both.json()["extra"]["fields"]["qty"][0]["code"] == "qty_notional_exclusive"
    assert neither.json()["extra"]["fields"]["qty"][0]["code"] == "qty_or_notional"


@pytest.mark.parametrize("raw", ["[]", '"buy"', "1", "null"])
def test_body_that_is_not_an_object_is_400(trader, price150, raw):
    """A JSON array, string, number or null body is a validation error, not a crash."""
    response = trader.post("/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_form_encoded_body_is_still_strict(trader, price150):
    """Orders take JSON only: a form-encoded body is 415 unsupported_media_type."""
    response = trader.post(
        "/api/v1/orders",
        "symbol=SOL-USD&side=buy&type=market&qty=1e3&client_order_id=f",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert LedgerEntry.objects.filter(txn__reason="trade").count() == 0
