"""The market registry in the admin: listed, and the halt/resume actions act at once."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from pricing.markets import market_get
from pricing.models import Market, MarketStatus
from tests.trading.helpers import order_body, set_price

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = APIClient()
    client.force_login(User.objects.create_superuser("ops", "pw-for-tests"))
    return client


def test_admin_lists_tokens_and_markets_with_their_ids_and_rules(admin_client):
    """The seeded tokens show their mint and Pyth id; the markets their rules and status."""
    tokens = admin_client.get("/admin/pricing/token/").content.decode()
    assert "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263" in tokens and "BONKUSDT" in tokens
    markets = admin_client.get("/admin/pricing/market/").content.decode()
    assert "BONK-PERP" in markets and "SOL-USD" in markets
    bonk = Market.objects.get(symbol="BONK-USD")
    assert admin_client.get(f"/admin/pricing/market/{bonk.pk}/change/").status_code == 200


def test_halting_in_the_admin_stops_new_orders_at_once_and_resuming_reopens(admin_client, trader):
    """The halt action on SOL-USD: the next buy is 422 market_halted; resume, and it fills."""
    set_price(D("150"))
    sol = Market.objects.get(symbol="SOL-USD")
    market_get("SOL-USD")  # the registry is cached in this process before the change
    changelist = "/admin/pricing/market/"
    response = admin_client.post(changelist, {"action": "halt", "_selected_action": [sol.pk]})
    assert response.status_code == 302
    assert Market.objects.get(pk=sol.pk).status == MarketStatus.HALTED
    refused = trader.post("/api/v1/orders", order_body(client_order_id="a1"), format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "market_halted"
    admin_client.post(changelist, {"action": "resume", "_selected_action": [sol.pk]})
    assert trader.post("/api/v1/orders", order_body(client_order_id="a1"), format="json").status_code == 201
