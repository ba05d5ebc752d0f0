"""The dashboard's server-rendered controls for resting orders (issue 18), through Django's test
client (no browser): the ticket's order types and their fields, the open-orders table, the TP/SL
column and editor, the numbers the previews read from the page config, and the modules served."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.test import override_settings

from tests.portfolio.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    client.force_login(make_user())
    return client


def _config(html: str) -> dict:
    return json.loads(
        re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S).group(1)
    )


def test_trade_page_renders_the_order_types_their_fields_and_the_open_orders_table(signed_in):
    html = signed_in.get("/trade/?market=SOL-USD").content.decode()
    types = re.search(r'data-testid="spot-type">(.*?)</div>', html, re.S).group(1)
    assert re.findall(r'data-value="(\w+)"', types) == ["market", "limit", "stop", "stop_limit"]
    for field in ("stop_price", "limit_price", "time_in_force", "expire_at", "post_only"):
        assert re.search(rf'data-field="{field}" hidden', html), field  # shown by the chosen type
    tif = re.search(r'<select id="spot-tif".*?</select>', html, re.S).group(0)
    assert re.findall(r'value="(\w+)"', tif) == ["gtc", "gtd", "ioc", "fok"]
    assert 'data-types="limit stop_limit"' in tif  # ioc/fok: not for a stop-market
    for test_id in ("spot-limit-price", "spot-stop-price", "spot-expire-at", "spot-post-only", "spot-hold",
                    "open-orders", "orders-table", "orders-scope", "orders-cancel-all", "order-edit-dialog",
                    "edit-qty", "edit-limit-price", "edit-stop-price", "edit-expire-at", "tpsl-dialog"):  # fmt: skip
        assert f'data-testid="{test_id}"' in html, test_id
    orders_head = re.search(r'data-testid="orders-table">\s*<thead>(.*?)</thead>', html, re.S).group(1)
    assert re.findall(r"<th[^>]*>([^<]*)</th>", orders_head) == [
        "Placed (UTC)", "Market", "Side", "Type", "Qty", "Limit", "Stop", "Time in force", "Held", "Status", "",
    ]  # fmt: skip
    assert "<th>TP / SL</th>" in html
    assert "js/trade.js" in html


def test_signed_out_trade_page_has_the_controls_but_no_cancel_all(client):
    html = client.get("/trade/").content.decode()
    assert 'data-testid="spot-type"' in html and 'data-testid="orders-table"' in html
    assert 'data-testid="orders-cancel-all"' not in html


def test_portfolio_page_has_the_tp_sl_column_and_editor(signed_in):
    html = signed_in.get("/portfolio/").content.decode()
    assert "<th>TP / SL</th>" in html
    for test_id in ("tpsl-dialog", "tpsl-tp", "tpsl-sl", "tpsl-save", "tpsl-clear"):
        assert f'data-testid="{test_id}"' in html, test_id


@override_settings(
    TRADING_FEE_BPS=Decimal("12"),
    TRADING_MAKER_FEE_BPS=Decimal("3"),
    TRADING_MAX_SLIPPAGE_BPS=Decimal("150"),
    TRADING_PRICE_BAND_PCT=Decimal("25"),
    TRADING_MAX_OPEN_ORDERS=7,
)
def test_the_page_config_carries_the_fees_slippage_band_and_cap_the_hold_preview_uses(client):
    """The ticket's hold (qty × limit × (1 + taker fee), a stop with the max slippage) and its fee
    preview read these from settings, embedded in the page and at /pages/config.json."""
    expected = {"fee_bps": "12", "maker_fee_bps": "3", "max_slippage_bps": "150", "price_band_pct": "25",
                "max_open_orders": 7}  # fmt: skip
    served = client.get("/pages/config.json").json()["spot"]
    assert {k: served[k] for k in expected} == expected
    embedded = _config(client.get("/trade/").content.decode())["spot"]
    assert {k: embedded[k] for k in expected} == expected


@pytest.mark.parametrize(
    "module",
    "orders.js order_edit.js spot_ticket.js lev_ticket.js fills.js chart_lines.js tpsl.js controls.js".split(),
)
def test_the_new_modules_are_served(client, module):
    response = client.get(f"/static/js/{module}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(("text/javascript", "application/javascript"))
