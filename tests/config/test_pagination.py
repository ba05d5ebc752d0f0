"""Cursor pagination: a cursor the server did not issue is 400 invalid_cursor on every
cursor-paginated list, before any query; the cursors it issues page forward and back."""

from __future__ import annotations

import json
from base64 import b64encode
from decimal import Decimal

import pytest
from django.test import Client

from tests.accounts.helpers import sign_in
from tests.trading.helpers import order_body, set_price
from tests.trading.position_helpers import open_body

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/orders", "/api/v1/trades", "/api/v1/ledger", "/api/v1/positions"]


def cursor(text: str) -> str:
    return b64encode(text.encode()).decode()


TAMPERED = {
    "position-not-a-time": "cD1nYXJiYWdl",  # "p=garbage": decodes, then 500'd in the ORM
    "not-base64": "!!!",
    "base64-with-junk": "cD0x!!",
    "negative-offset": cursor("o=-1"),
    "offset-not-a-number": cursor("o=x"),
    "direction-not-0-or-1": cursor("r=2"),
    "unknown-field": cursor("x=1"),
    "repeated-field": cursor("o=1&o=2"),
    "naive-time": cursor("p=2024-01-01 00:00:00"),
    "time-past-the-calendar": cursor("p=9999-12-31 23:59:59-14:00"),
    "not-ascii": "\u00e9\u00e9\u00e9\u00e9",
    "too-long": cursor("p=" + "1" * 600),
}


@pytest.fixture
def trader():
    """A signed-in trader with three orders, one open position and their ledger entries."""
    set_price(Decimal("150"))
    token, user = sign_in(Client())
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for i in range(3):
        placed = client.post("/api/v1/orders", json.dumps(order_body(client_order_id=f"c-{i}")), "application/json")
        assert placed.status_code == 201, placed.content
    opened = client.post("/api/v1/positions", json.dumps(open_body()), "application/json")
    assert opened.status_code == 201, opened.content
    return client


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("value", list(TAMPERED.values()), ids=list(TAMPERED))
def test_a_tampered_cursor_is_400_invalid_cursor(trader, url, value):
    """Any cursor that is not strict base64 of o/r/p with a position of the ordering field's type
    is 400 invalid_cursor in the error shape (not a 500, a 404 or a silent first page)."""
    response = trader.get(url, {"cursor": value})
    assert response.status_code == 400, (url, value, response.status_code, response.content[:200])
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["code"] == "invalid_cursor"


@pytest.mark.parametrize("url", ["/api/v1/orders", "/api/v1/trades", "/api/v1/ledger"])
def test_issued_cursors_page_forward_and_back(trader, url):
    """The next/previous links the server issues walk every row once, newest first, and back."""
    first = trader.get(url, {"limit": 1}).json()
    seen = [row["id"] for row in first["results"]]
    page = first
    while page["next"]:
        page = trader.get(page["next"]).json()
        seen.extend(row["id"] for row in page["results"])
    everything = [row["id"] for row in trader.get(url, {"limit": 100}).json()["results"]]
    assert seen == everything and len(seen) >= 3
    back = trader.get(page["previous"]).json()
    assert [row["id"] for row in back["results"]] == everything[-2:-1]


def test_an_empty_cursor_is_the_first_page(trader):
    """``?cursor=`` (empty) is the same as no cursor."""
    assert trader.get("/api/v1/orders", {"cursor": ""}).json() == trader.get("/api/v1/orders").json()
