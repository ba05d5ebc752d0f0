"""Market order placement over HTTP: price, slippage, fee, ledger legs, events after commit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portfolio.models import Balance, LedgerEntry, LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import order_body, set_price
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db


def test_buy_fills_at_index_plus_slippage_and_charges_fee(trader, user, price150):
    """A 1 SOL buy at index 150 fills at 150*(1+bps/1e4) rounded up, pays a 10 bps fee to `fees`,
    and moves SOL from `house` to the user; the books balance."""
    response = trader.post("/api/v1/orders", order_body(qty="1"), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "filled"
    assert data["filled_qty"] == "1.000000000"
    price = Decimal(data["filled_avg_price"])
    assert price > Decimal("150")
    # spread 2 bps -> 1 bp half-spread, impact 10 bps * sqrt(150/100000) ~ 0.387 bps
    assert Decimal("150.02") < price < Decimal("150.03")
    fee = Decimal(data["fee"])
    assert fee == (price * Decimal("0.001")).quantize(Decimal("0.000001"), rounding="ROUND_UP")
    assert data["price_source"] == "pyth,coinbase"
    assert Decimal(data["slippage_bps"]) > 1
    balances = balances_of(user)
    assert balances["SOL"] == Decimal("1")
    assert balances["USD"] == Decimal("10000") - price - fee
    assert Fill.objects.filter(order_id=data["id"]).count() == 1
    assert_books_ok()


def test_sell_after_buy_realizes_and_pays_fee(trader, user, price150):
    """Buying then selling 2 SOL leaves 0 SOL and less USD than the start (spread + fees)."""
    assert trader.post("/api/v1/orders", order_body(qty="2", client_order_id="b"), format="json").status_code == 201
    response = trader.post("/api/v1/orders", order_body(side="sell", qty="2", client_order_id="s"), format="json")
    assert response.status_code == 201, response.json()
    assert Decimal(response.json()["filled_avg_price"]) < Decimal("150")
    balances = balances_of(user)
    assert balances["SOL"] == 0
    assert balances["USD"] < Decimal("10000")
    assert_books_ok()


def test_notional_buy_spends_at_most_the_notional(trader, user, price150):
    """A notional order of 1000 USD buys the largest step multiple whose notional fits."""
    response = trader.post("/api/v1/orders", order_body(qty=..., notional="1000", client_order_id="n1"), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["notional"] == "1000.000000000"
    assert data["qty"] is None
    qty, price = Decimal(data["filled_qty"]), Decimal(data["filled_avg_price"])
    assert qty * price <= Decimal("1000")
    assert (qty + Decimal("0.001")) * price > Decimal("1000")
    assert_books_ok()


def test_ledger_transaction_of_a_fill_has_the_five_legs(trader, user, price150):
    """The fill's ledger transaction: user SOL +, house SOL -, user USD -, house USD +, fees USD +."""
    data = trader.post("/api/v1/orders", order_body(qty="1"), format="json").json()
    txn = LedgerTransaction.objects.get(reference_type="order", reference_id=data["id"])
    legs = {(e.account.code, e.asset): e.amount for e in LedgerEntry.objects.filter(txn=txn).select_related("account")}
    code = f"user:{user.pk}"
    assert legs[(code, "SOL")] == 1 and legs[("house", "SOL")] == -1
    assert legs[("fees", "USD")] == Decimal(data["fee"])
    assert legs[(code, "USD")] == -(legs[("house", "USD")] + legs[("fees", "USD")])
    assert_books_ok()


def test_insufficient_funds_writes_nothing(trader, user, price150):
    """Buying 100 SOL at 150 with 10,000 USD is refused 422 insufficient_funds; no order, fill or entry."""
    entries = LedgerEntry.objects.count()
    response = trader.post("/api/v1/orders", order_body(qty="100"), format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "insufficient_funds"
    assert body["extra"]["asset"] == "USD"
    assert Order.objects.count() == 0 and Fill.objects.count() == 0
    assert LedgerEntry.objects.count() == entries
    assert balances_of(user)["USD"] == Decimal("10000")
    assert_books_ok()


def test_selling_sol_you_do_not_have_is_insufficient_funds(trader, price150):
    """A sell without SOL is refused with the SOL asset named."""
    response = trader.post("/api/v1/orders", order_body(side="sell", qty="1"), format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert response.json()["extra"]["asset"] == "SOL"
    assert_books_ok()


@pytest.mark.parametrize("stale", [True, False])
def test_missing_or_stale_price_is_503_with_retry_after_and_not_stored(trader, stale):
    """No price (or an old one) -> 503 price_unavailable/price_stale with Retry-After; the same id
    succeeds once a price is back (unavailability is not stored)."""
    if stale:
        set_price(Decimal("150"), age_seconds=3600)
    response = trader.post("/api/v1/orders", order_body(), format="json")
    assert response.status_code == 503
    assert response.json()["code"] == ("price_stale" if stale else "price_unavailable")
    assert response.headers["Retry-After"]
    assert Order.objects.count() == 0
    set_price(Decimal("150"))
    assert trader.post("/api/v1/orders", order_body(), format="json").status_code == 201
    assert_books_ok()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"qty": "0.0005"}, "qty_below_min"),
        ({"qty": "1.0005"}, "qty_off_step"),
        ({"qty": "0.001"}, "notional_below_min"),
        ({"qty": ..., "notional": "0.5"}, "notional_below_min"),
        ({"qty": ..., "notional": "2000000"}, "notional_above_max"),
    ],
)
def test_lot_rules_are_422_with_the_rule_code(trader, price150, body, code):
    """Off-step or out-of-range orders are refused 422 with the rule's code; nothing is written."""
    response = trader.post("/api/v1/orders", order_body(**body), format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == code
    assert Order.objects.count() == 0
    assert_books_ok()


def test_unauthenticated_is_refused(api_client, price150):
    """Without credentials the order endpoint refuses and writes nothing."""
    response = api_client.post("/api/v1/orders", order_body(), format="json")
    assert response.status_code in (401, 403)
    assert Order.objects.count() == 0


def test_balances_rows_never_negative_constraint(user):
    """The database itself refuses a negative free user balance."""
    from django.db import IntegrityError, transaction

    row = Balance.objects.get(account__user=user, asset="USD")
    with pytest.raises(IntegrityError), transaction.atomic():
        Balance.objects.filter(pk=row.pk).update(total=Decimal("-1"))


def test_api_key_without_trade_scope_cannot_place_orders(user, price150):
    """A read-only API key may list orders but placing one is 403 scope_missing."""
    from tests.portfolio.helpers import authed_client

    client = authed_client(user, "read")
    assert client.get("/api/v1/orders").status_code == 200
    response = client.post("/api/v1/orders", order_body(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "scope_missing"
    assert Order.objects.count() == 0
