"""The fill in one call (``trading_fill_market_order``) answers exactly as the Python path.

Each scenario runs twice on the real PostgreSQL, once per path (``TRADING_FILL_IN_ONE_CALL``), for
two traders in the same state, and compares everything a client or the books can see: the HTTP
status, body and replay header, the rows written (orders, fills, rejections, ledger), the
balances, the SOL book, and the two events' texts byte for byte (ids and times aside).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal as D

import pytest
from django.db import connection
from rest_framework.test import APIClient

from portfolio.models import LedgerAccount, LedgerTransaction, SpotHolding
from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import clear_price, order_body, set_price
from tests.trading.test_command_wait import BalanceRowHold
from trading.models import Fill, Order, OrderRejection

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {"one_call": True, "python": False}
# ids, moments and a measured age differ from run to run
_VOLATILE = re.compile(r'"(id|order_id|fill_id|ts|created_at|filled_at)":"[^"]*"|"(age_seconds)":[0-9.]+')


def _trader() -> tuple[object, APIClient]:
    user = make_user()
    key_id, secret = create_api_key(user)
    client = APIClient()
    client.credentials(HTTP_APCA_API_KEY_ID=key_id, HTTP_APCA_API_SECRET_KEY=secret)
    client.trader = user  # whose client it is (a step that holds the trader's rows needs it)
    return user, client


def _event_texts(user) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM realtime_user_event WHERE user_id = %s ORDER BY seq", [user.pk])
        return [_mask(text) for (text,) in cursor.fetchall()]


def _mask(text: str) -> str:
    return _VOLATILE.sub(lambda m: f'"{m.group(1) or m.group(2)}":"~"', text)


def _seen(user, response) -> dict:
    """What the client and the books show after a request, ids and moments masked."""
    account = LedgerAccount.objects.filter(user=user).first()
    holding = SpotHolding.objects.filter(account=account).values(
        "qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count"
    )
    return {
        "status": response.status_code,
        "body": _mask(response.content.decode()),
        "replayed": response.headers.get("Idempotent-Replayed"),
        "retry_after": response.headers.get("Retry-After"),
        "orders": Order.objects.filter(user=user).count(),
        "fills": Fill.objects.filter(user=user).count(),
        "rejections": list(OrderRejection.objects.filter(user=user).values_list("code", "status", "extra")),
        "ledger": LedgerTransaction.objects.filter(reference_type="order", reference_id__in=_order_ids(user)).count(),
        "balances": balances_of(user),
        "holding": list(holding),
        "events": _event_texts(user),
    }


def _order_ids(user) -> list[str]:
    return [str(pk) for pk in Order.objects.filter(user=user).values_list("id", flat=True)]


def _both_paths(settings, scenario: Callable[[APIClient], list[Callable]]) -> list[dict]:
    """Run ``scenario``'s steps (each sends one request) on a fresh trader per path, looking after
    each; what each path showed must be equal. Returns it."""
    seen = {}
    for name, flag in PATHS.items():
        settings.TRADING_FILL_IN_ONE_CALL = flag
        set_price(D("150"))
        user, client = _trader()
        seen[name] = [_seen(user, step()) for step in scenario(client)]
    assert seen["one_call"] == seen["python"]
    assert_books_ok()
    return seen["one_call"]


def _post(client, **body):
    return client.post("/api/v1/orders", order_body(**body), format="json")


def _order(**body) -> Callable[[APIClient], Callable]:
    """A step: post this order."""
    return lambda client: lambda: _post(client, **body)


def _then(effect: Callable[[], object], **body) -> Callable[[APIClient], Callable]:
    """A step: ``effect()`` (the price changes), then post this order."""
    return lambda client: lambda: (effect(), _post(client, **body))[1]


def _steps(*steps) -> Callable[[APIClient], list[Callable]]:
    return lambda client: [step(client) for step in steps]


def _codes(seen: list[dict]) -> list:
    return [json.loads(step["body"]).get("code") for step in seen]


def test_fills_buy_and_sell_alike_books_and_events_byte_for_byte(settings):
    seen = _both_paths(
        settings,
        _steps(
            _order(side="buy", qty="3", client_order_id="b1"),
            _order(side="buy", notional="321.5", qty=..., client_order_id="b2"),
            _order(side="sell", qty="1", client_order_id="s1"),  # realizes at average cost (rounded)
            _order(side="sell", qty="1.139", client_order_id="s2"),
        ),
    )
    assert [step["status"] for step in seen] == [201] * 4
    assert seen[-1]["fills"] == 4 and seen[-1]["ledger"] == 4 and len(seen[-1]["events"]) == 8
    portfolio = json.loads(seen[-1]["events"][-1])
    assert portfolio["type"] == "portfolio_update" and set(portfolio["data"]) == {
        "epoch",
        "balances",
        "sol",
        "holdings",
    }


def test_selling_the_whole_book_clears_its_cost_basis_alike(settings):
    seen = _both_paths(settings, _steps(_order(qty="2", client_order_id="b"), _order(side="sell", qty="2")))
    assert seen[-1]["holding"][0]["qty"] == 0 and seen[-1]["holding"][0]["cost_basis"] == 0


def test_insufficient_funds_usd_and_sol_alike_and_stored_for_the_id(settings):
    seen = _both_paths(
        settings,
        _steps(
            _order(side="buy", qty="1000", client_order_id="too-big"),
            _order(side="sell", qty="0.5", client_order_id="no-sol"),
            _order(side="sell", qty="0.5", client_order_id="no-sol"),  # the stored rejection, replayed
        ),
    )
    assert [step["status"] for step in seen] == [422, 422, 422]
    assert _codes(seen) == ["insufficient_funds"] * 3
    assert seen[2]["replayed"] == "true" and seen[-1]["orders"] == 0 and len(seen[-1]["rejections"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"qty": "0.0001"},  # below the minimum quantity
        {"qty": "1.0005"},  # off the quantity step
        {"qty": ..., "notional": "5000000"},  # above the maximum notional
        {"qty": ..., "notional": "0.5"},  # below the minimum notional
    ],
)
def test_lot_rules_refused_alike_and_stored(settings, body):
    seen = _both_paths(settings, _steps(_order(client_order_id="lot", **body), _order(client_order_id="lot", **body)))
    first, again = (json.loads(step["body"]) for step in seen)
    assert seen[0]["status"] == 422 and seen[1]["replayed"] == "true" and first == again
    assert seen[-1]["orders"] == 0 and len(seen[-1]["rejections"]) == 1


def test_stale_and_missing_price_refused_alike_nothing_stored(settings):
    stale = settings.PRICE_STALE_SECONDS + 5
    seen = _both_paths(
        settings,
        _steps(
            _then(lambda: set_price(D("150"), age_seconds=stale), client_order_id="p1"),
            _then(clear_price, client_order_id="p1"),
            _then(lambda: set_price(D("150")), client_order_id="p1"),  # the id is still free
        ),
    )
    assert [step["status"] for step in seen] == [503, 503, 201]
    assert _codes(seen)[:2] == ["price_stale", "price_unavailable"]
    assert seen[0]["rejections"] == [] and seen[1]["rejections"] == [] and seen[1]["orders"] == 0


def test_price_that_aged_while_waiting_for_the_lock_refused_alike(settings):
    """Another connection holds the trader's USD row for 1.5 s; the price's budget is 1 s."""
    settings.TRADING_LOCK_TIMEOUT_MS = 10000
    settings.PRICE_STALE_SECONDS = 1

    def held(client):
        def step():
            set_price(D("150"))
            hold = BalanceRowHold(client.trader)
            hold.release_after(1.5)
            try:
                return _post(client, client_order_id="late")
            finally:
                hold.release()

        return step

    seen = _both_paths(settings, lambda client: [held(client)])
    body = json.loads(seen[0]["body"])
    assert seen[0]["status"] == 503 and body["code"] == "price_stale" and body["extra"]["at"] == "fill"
    assert seen[0]["orders"] == 0 and seen[0]["rejections"] == []


def test_duplicate_id_replays_and_a_different_body_is_refused_alike(settings):
    seen = _both_paths(
        settings,
        _steps(
            _order(qty="1", client_order_id="dup"),
            _order(qty="1.000", client_order_id="dup"),  # the same meaning
            _order(qty="2", client_order_id="dup"),  # the same id, another body
        ),
    )
    assert [step["status"] for step in seen] == [201, 201, 422]
    assert seen[1]["replayed"] == "true" and _codes(seen)[2] == "idempotency_key_reused"
    assert seen[-1]["orders"] == 1 and seen[-1]["fills"] == 1


def test_a_stored_order_answers_before_a_missing_price_or_a_lot_rule(settings):
    seen = _both_paths(
        settings,
        _steps(
            _order(client_order_id="kept"),
            _then(clear_price, client_order_id="kept"),
            _then(lambda: set_price(D("150")), qty="0.0001", client_order_id="kept"),  # another body
        ),
    )
    assert [step["status"] for step in seen] == [201, 201, 422]
    assert seen[1]["replayed"] == "true" and _codes(seen)[2] == "idempotency_key_reused"


def test_a_trader_without_books_is_opened_and_filled(settings):
    """A user saved without the ``user_created`` hook has no books: the one call answers
    ``no_books`` and the Python path opens them, then fills."""
    from accounts.models import User

    settings.TRADING_FILL_IN_ONE_CALL = True
    set_price(D("150"))
    bare = User.objects.create(username="bare-trader", address="bare-trader")
    assert not LedgerAccount.objects.filter(user=bare).exists()
    key_id, secret = create_api_key(bare)
    client = APIClient()
    client.credentials(HTTP_APCA_API_KEY_ID=key_id, HTTP_APCA_API_SECRET_KEY=secret)
    response = _post(client, client_order_id="first-ever")
    assert response.status_code == 201, response.content
    assert Fill.objects.filter(user=bare).count() == 1
    assert_books_ok()
