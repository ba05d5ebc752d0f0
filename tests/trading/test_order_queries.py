"""Round trips of one market order over HTTP, pinned so they cannot silently grow back.

On PostgreSQL (docs/trading.md, "The fill in one call") an order is four round trips: the API-key
lookup, then BEGIN, one call of ``trading_fill_market_order``, COMMIT (Django counts BEGIN and
COMMIT outside a test transaction). The Python path (``TRADING_FILL_IN_ONE_CALL=0``, and SQLite's)
is: API-key lookup; account + house + fees + idempotency pre-check (one query); BEGIN; lock the
user's balances; epoch + idempotency re-check (one query); insert the order; ``ledger_post`` (lock,
update, transaction, entries); insert the fill; the SOL book (lock, update); both user events
(``user_events_emit_many``: counter, insert); COMMIT. Nothing is queued for the leaderboard (its
periodic update reads the ledger).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from realtime.models import UserEvent
from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import order_body, set_price

pytestmark = pytest.mark.django_db

ORDER_QUERIES = 4  # the key, BEGIN, the one call, COMMIT (issue 16; 17 + BEGIN/COMMIT before)
PYTHON_PATH_QUERIES = 17  # 31 before issue 5's pass; +1 for the command's lock_timeout (issue 14)
REPLAY_QUERIES = 3  # key, accounts + pre-check, the stored order (the Python path)
ONE_CALL_REPLAY_QUERIES = 5  # key, BEGIN, the call (answers "stored", writes nothing), COMMIT, the order


@pytest.fixture
def bot():
    set_price(Decimal("150"))
    user = make_user()
    key_id, secret = create_api_key(user)
    client = APIClient()
    client.credentials(HTTP_APCA_API_KEY_ID=key_id, HTTP_APCA_API_SECRET_KEY=secret)
    client.post("/api/v1/orders", order_body(qty="1", client_order_id="warm-up"), format="json")
    return client, user, key_id


@pytest.mark.django_db(transaction=True)  # as served: no test transaction around it
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_one_market_order_is_four_round_trips(bot, side, django_assert_num_queries):
    """A filled order over HTTP with an API key (used less than a minute ago) makes exactly
    ORDER_QUERIES round trips, whatever the side."""
    client, _user, _key_id = bot
    with django_assert_num_queries(ORDER_QUERIES) as captured:
        response = client.post("/api/v1/orders", order_body(side=side, qty="0.5", client_order_id="q"), format="json")
    assert response.status_code == 201, response.json()
    assert [query["sql"].split("(")[0] for query in captured.captured_queries[1:]] == [
        "BEGIN",
        "SELECT * FROM trading_fill_market_order",
        "COMMIT",
    ]
    assert_books_ok()


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_the_python_path_costs_a_fixed_number_of_queries(bot, side, settings, django_assert_num_queries):
    """``TRADING_FILL_IN_ONE_CALL=0`` (SQLite's path, run here on PostgreSQL) makes exactly
    PYTHON_PATH_QUERIES queries; the books stay balanced."""
    settings.TRADING_FILL_IN_ONE_CALL = False
    client, _user, _key_id = bot
    with django_assert_num_queries(PYTHON_PATH_QUERIES):
        response = client.post("/api/v1/orders", order_body(side=side, qty="0.5", client_order_id="q"), format="json")
    assert response.status_code == 201, response.json()
    assert_books_ok()


@pytest.mark.django_db(transaction=True)
def test_one_call_replay_reads_the_stored_order(bot, django_assert_num_queries):
    """Replaying a filled order's id: the key, the call (answers "stored", writes nothing), the
    stored order."""
    client, _user, _key_id = bot
    body = order_body(qty="0.5", client_order_id="again")
    assert client.post("/api/v1/orders", body, format="json").status_code == 201
    with django_assert_num_queries(ONE_CALL_REPLAY_QUERIES):
        response = client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_replay_costs_three_queries_and_no_transaction(bot, settings, django_assert_num_queries):
    """Python path: replaying a filled order's id reads the key, the pre-check and the order: no
    lock, no price."""
    settings.TRADING_FILL_IN_ONE_CALL = False
    client, _user, _key_id = bot
    body = order_body(qty="0.5", client_order_id="again")
    assert client.post("/api/v1/orders", body, format="json").status_code == 201
    with django_assert_num_queries(REPLAY_QUERIES):
        response = client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_portfolio_update_payload_matches_the_database(bot):
    """The ``portfolio_update`` built from what the service has in hand (no re-read) equals the
    balances and SOL book the database holds after the fill."""
    client, user, _key_id = bot
    response = client.post("/api/v1/orders", order_body(side="sell", qty="0.4", client_order_id="s"), format="json")
    assert response.status_code == 201
    event = UserEvent.objects.filter(user_id=user.pk, type="portfolio_update").latest("seq")
    from portfolio.events import portfolio_update_data
    from portfolio.models import LedgerAccount

    account = LedgerAccount.objects.get(user=user)
    assert event.payload["data"] == portfolio_update_data(account)
