"""Take-profit / stop-loss on position rows and the positions' lines on the chart (issue 18). The
editor is exercised end to end once PATCH /api/v1/positions/{id} is routed; until then the row
shows no TP/SL editor and the chart still draws the liquidation price."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import api_post, ready, shot, sign_in_with_burner, tick
from trading.position_views import PositionDetailApi

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TPSL_ROUTED = hasattr(PositionDetailApi, "patch")


def _open_long(page) -> dict:
    body = {"symbol": "SOL-PERP", "side": "long", "margin": "100", "leverage": "5", "client_order_id": "p1"}
    response = api_post(page, "positions", body)
    assert response.status == 201, response.text()
    return response.json()


def test_position_rows_show_tp_sl_and_the_chart_draws_liquidation_tp_and_sl(page):
    """A 5× long shows its liquidation price as a chart line ("Long liq."); with TP/SL routed, Set
    opens the editor, 110 / 95 are saved with PATCH and shown in the row and as lines, a stop-loss
    beyond the liquidation price is refused in words, and "Remove both" clears them."""
    tick("100.00")
    sign_in_with_burner(page)
    position = _open_long(page)
    page.reload()
    ready(page)
    row = page.get_by_test_id("positions-table").locator("tbody tr[data-position-id]")
    expect(row).to_have_count(1)
    liq = position["liquidation_price"]
    chart = page.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-price-lines", re.compile(rf"Long liq\.@{re.escape(liq)}"))
    expect(row.get_by_test_id("position-tp")).to_have_text("TP —")
    expect(row.get_by_test_id("position-sl")).to_have_text("SL —")
    if not TPSL_ROUTED:
        expect(row.get_by_test_id("tpsl-edit")).to_have_count(0)
        return

    row.get_by_test_id("tpsl-edit").click()
    dialog = page.get_by_test_id("tpsl-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("tpsl-sl").fill("70")  # below the liquidation price (~80.4)
    dialog.get_by_test_id("tpsl-save").click()
    expect(dialog.get_by_test_id("tpsl-msg")).to_contain_text("beyond the liquidation price")
    dialog.get_by_test_id("tpsl-tp").fill("110")
    dialog.get_by_test_id("tpsl-sl").fill("95")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        dialog.get_by_test_id("tpsl-save").click()
    assert sent.value.post_data_json == {"take_profit_price": "110", "stop_loss_price": "95"}
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("position-tp")).to_have_text("TP $110.00")
    expect(row.get_by_test_id("position-sl")).to_have_text("SL $95.00")
    expect(chart).to_have_attribute("data-price-lines", re.compile(r"Long TP@110.*Long SL@95"))
    shot(page, "trade-position-tpsl")

    row.get_by_test_id("tpsl-edit").click()
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        dialog.get_by_test_id("tpsl-clear").click()
    assert sent.value.post_data_json == {"take_profit_price": None, "stop_loss_price": None}
    expect(row.get_by_test_id("position-tp")).to_have_text("TP —")
    expect(chart).not_to_have_attribute("data-price-lines", re.compile(r"TP@|SL@"))
