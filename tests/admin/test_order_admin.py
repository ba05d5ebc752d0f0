"""Ops admin of resting orders (issue 18): open orders with what they hold per trader and asset
(filter by status / symbol, search by wallet), the balance rows linking to them, and "cancel (ops)"
really canceling on the real database -- the hold released through the ledger, the trader told,
the books still balancing."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from portfolio.models import Balance, LedgerTransaction
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, authed_client, balances_of, make_user
from tests.trading.helpers import order_body, set_price
from trading.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ops", "pw-ops-123"))
    return client


def _limit(trader, cid: str, **fields) -> dict:
    body = order_body(type="limit", client_order_id=cid, **{"qty": "2", "limit_price": "95", **fields})
    response = trader.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def book(trader, user):
    """Index 100. ``user``: two resting SOL buys (2 @ 95 holds 2 × 95 × 1.001 = 190.19 USD; 1 @ 90
    holds 90.09) and a filled market order; ``other``: one resting buy of 1 @ 80 (80.08)."""
    set_price(D("100"))
    mine = [_limit(trader, "a"), _limit(trader, "b", qty="1", limit_price="90")]
    assert trader.post("/api/v1/orders", order_body(client_order_id="m"), format="json").status_code == 201
    other = make_user()
    theirs = _limit(authed_client(other), "c", qty="1", limit_price="80")
    return {"mine": mine, "theirs": theirs, "other": other}


def test_the_changelist_shows_open_orders_holds_per_trader_and_filters(ops, user, book):
    """status=new lists the three open orders with their holds and each trader's total held; the
    summary has one row per trader and asset (largest first) with the locked balance beside it;
    filtering by symbol and searching by wallet narrow it; the summary's link filters by trader."""
    page = ops.get("/admin/trading/order/", {"status__exact": "new"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    assert [(r["wallet"], r["held_asset"], r["orders"], r["held"], r["locked"]) for r in page.context["holds"]] == [
        (user.address, "USD", 2, D("280.28"), D("280.28")),
        (book["other"].address, "USD", 1, D("80.08"), D("80.08")),
    ]
    rows = {str(o.pk): o for o in page.context["cl"].result_list}
    assert rows[book["mine"][1]["id"]].user_held == D("280.28")  # the trader's total, on each row
    html = page.content.decode()
    assert "Held by open orders, per trader and asset" in html and "190.190000000 USD" in html
    assert f"?user__id__exact={user.pk}&amp;status__exact=new" in html

    assert ops.get("/admin/trading/order/", {"symbol": "SOL-USD"}).context["cl"].result_count == 4
    assert ops.get("/admin/trading/order/", {"symbol": "JUP-USD"}).context["cl"].result_count == 0
    assert ops.get("/admin/trading/order/", {"status__exact": "filled"}).context["holds"] == []
    found = ops.get("/admin/trading/order/", {"q": book["other"].address, "status__exact": "new"})
    assert [str(o.pk) for o in found.context["cl"].result_list] == [book["theirs"]["id"]]
    by_trader = ops.get("/admin/trading/order/", {"user__id__exact": user.pk, "status__exact": "new"})
    assert by_trader.status_code == 200 and by_trader.context["cl"].result_count == 2
    holding = ops.get("/admin/trading/order/", {"holding": "yes"})
    assert holding.context["cl"].result_count == 3


def test_balance_rows_show_free_and_link_to_the_open_orders_holding_them(ops, user, book):
    """A user's USD balance row shows free = total − locked and links to the open orders holding USD."""
    page = ops.get("/admin/portfolio/balance/", {"q": user.address, "locked": "yes"})
    assert page.status_code == 200
    html = page.content.decode()
    row = Balance.objects.get(account__user=user, asset="USD")
    assert row.locked == D("280.28") and f'<td class="field-free_display">{row.total - row.locked}</td>' in html
    assert f"/admin/trading/order/?user__id__exact={user.pk}&amp;status__exact=new&amp;held_asset=USD" in html
    linked = ops.get("/admin/trading/order/", {"user__id__exact": user.pk, "status__exact": "new", "held_asset": "USD"})
    assert linked.status_code == 200 and linked.context["cl"].result_count == 2


def test_cancel_by_ops_cancels_open_orders_releases_their_holds_and_tells_the_trader(ops, user, book):
    """Selecting two open orders and one filled: the two are canceled (a hold transaction each
    releasing 190.19 and 80.08 USD), the filled one is skipped; the traders get order_canceled with
    the ops reason; the books balance."""
    filled = Order.objects.get(user=user, client_order_id="m")
    selected = [book["mine"][0]["id"], book["theirs"]["id"], str(filled.pk)]
    response = ops.post("/admin/trading/order/", {"action": "cancel_by_ops", "_selected_action": selected})
    assert response.status_code == 302
    statuses = dict(Order.objects.filter(pk__in=selected).values_list("client_order_id", "status"))
    assert statuses == {"a": "canceled", "c": "canceled", "m": "filled"}
    assert Order.objects.get(pk=book["mine"][1]["id"]).status == "new"  # not selected
    assert balances_of(user)["USD_locked"] == D("90.09")
    assert balances_of(book["other"])["USD_locked"] == 0 and balances_of(book["other"])["USD"] == D("10000")
    releases = LedgerTransaction.objects.filter(reason="hold", memo__startswith="release:").values_list(
        "memo", flat=True
    )
    assert sorted(releases) == ["release: canceled by operations"] * 2
    event = UserEvent.objects.filter(user=book["other"], type="order_canceled").get()
    assert event.payload["data"]["order_id"] == book["theirs"]["id"]
    assert event.payload["data"]["reason"] == "canceled by operations"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Canceled 2 open order(s); 1 already final."]
    assert_books_ok()


def test_cancel_by_ops_needs_the_change_order_permission(client, django_user_model, book):
    """Staff without trading.change_order do not get the action; posting it changes nothing."""
    staff = django_user_model.objects.create_user("viewer", password="pw-view-123", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(staff)
    page = client.get("/admin/trading/order/")
    assert page.status_code == 200 and "cancel_by_ops" not in page.content.decode()
    client.post("/admin/trading/order/", {"action": "cancel_by_ops", "_selected_action": [book["theirs"]["id"]]})
    assert Order.objects.get(pk=book["theirs"]["id"]).status == "new"
