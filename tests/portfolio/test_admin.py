"""Ops admin: balances are read-only; an adjustment is a ledger transaction with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portfolio.models import Balance, LedgerAccount, LedgerTransaction
from tests.portfolio.helpers import assert_books_ok, balances_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("ops", "pw-ops-123")
    client.force_login(admin_user)
    return client


def test_balance_pages_are_read_only(ops, user):
    """The balance list renders; editing a balance is not possible."""
    row = Balance.objects.get(account__user=user, asset="USD")
    assert ops.get("/admin/portfolio/balance/").status_code == 200
    response = ops.post(f"/admin/portfolio/balance/{row.pk}/change/", {"total": "99999", "locked": "0"})
    assert response.status_code in (403, 200)
    row.refresh_from_db()
    assert row.total == Decimal("10000")


def test_adjust_action_leads_to_a_ledger_adjustment(ops, user):
    """The action redirects to the adjustment form; saving it posts a balanced adjustment transaction."""
    row = Balance.objects.get(account__user=user, asset="USD")
    response = ops.post("/admin/portfolio/balance/", {"action": "adjust_balance", "_selected_action": [row.pk]})
    assert response.status_code == 302
    assert "/admin/portfolio/balanceadjustment/add/" in response["Location"]
    account = LedgerAccount.objects.get(user=user)
    response = ops.post(
        "/admin/portfolio/balanceadjustment/add/",
        {"account": account.pk, "asset": "USD", "amount": "125.5", "reason": "compensation for outage"},
    )
    assert response.status_code == 302
    assert balances_of(user)["USD"] == Decimal("10125.5")
    txn = LedgerTransaction.objects.get(reason="adjustment")
    assert txn.memo == "compensation for outage" and txn.created_by.username == "ops"
    assert_books_ok()


def test_order_admin_lists_orders(ops):
    """The orders and fills changelists render for ops."""
    assert ops.get("/admin/trading/order/").status_code == 200
    assert ops.get("/admin/trading/fill/").status_code == 200
    assert ops.get("/admin/portfolio/ledgertransaction/").status_code == 200
