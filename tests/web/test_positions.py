"""Leveraged positions in the browser: a 5× long with its liquidation price, live PnL, partial and
full close with realized PnL. Skipped only while the positions API (issue 6) is not routed."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import expect

from tests.web.conftest import positions_routes_exist, ready, shot, sign_in_with_burner, tick

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not positions_routes_exist(), reason="POST /api/v1/positions is not routed yet (issue 6)"),
]


def usd(value: str) -> str:
    return "${:,}".format(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_open_a_5x_long_see_liquidation_price_then_close_with_realized_pnl(page):
    """The leverage ticket previews the liquidation price from the documented formula before
    sending; the opened position shows the server's liquidation price; a price rise shows a
    positive live PnL; a partial close shrinks it; the full close reports realized PnL and lists
    the position as closed."""
    tick("150.00")
    sign_in_with_burner(page)
    page.get_by_test_id("tab-leverage").click()
    page.get_by_test_id("lev-margin").fill("100")
    page.get_by_test_id("lev-leverage").fill("5")
    expect(page.get_by_test_id("lev-value")).to_have_text("5×")
    expect(page.get_by_test_id("lev-size")).to_have_text("$500.00")
    # long: (E − M/q)/(1 − mmr) = E·(1 − 1/L)/(1 − 0.005) ≈ 150·0.8/0.995 = 120.60 (E has slippage)
    expect(page.get_by_test_id("lev-liq")).to_have_text(re.compile(r"^\$120\.6\d$"))
    expect(page.get_by_test_id("lev-qty")).to_have_text(re.compile(r"^3\.33\d SOL$"))
    shot(page, "trade-leverage")

    page.get_by_test_id("lev-submit").click()
    expect(page.get_by_test_id("lev-msg")).to_contain_text("Opened long 5×")
    opened = page.request.get("/api/v1/positions?status=open").json()["results"][0]
    row = page.get_by_test_id("positions-table").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("position-liq")).to_have_text(usd(opened["liquidation_price"]))
    expect(row.get_by_test_id("position-funding")).to_have_text(re.compile(r"^\+?\$0\.0000$"))  # none paid yet
    assert Decimal("120") < Decimal(opened["liquidation_price"]) < Decimal("121.5")

    tick("153.00")
    expect(row.get_by_test_id("position-pnl")).to_have_text(re.compile(r"^\+\$\d"))

    page.goto("/portfolio/")
    ready(page)
    row = page.get_by_test_id("positions-table").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("position-liq")).to_have_text(usd(opened["liquidation_price"]))
    row.get_by_test_id("close-qty").fill("1")
    row.get_by_test_id("close-partial").click()
    expect(page.locator(".toast").first).to_contain_text("Closed 1 SOL of long 5×")
    expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^2\.33\d$"))
    shot(page, "portfolio-position")

    row.get_by_test_id("close-full").click()
    expect(page.get_by_test_id("positions-table").locator("tbody tr.empty")).to_have_count(1)
    expect(page.locator(".toast").last).to_contain_text("realized PnL +$")
    closed = page.get_by_test_id("closed-table").locator("tbody tr")
    expect(closed).to_have_count(1)
    expect(closed).to_contain_text("closed")
    expect(closed.get_by_test_id("closed-pnl")).to_have_text(re.compile(r"^\+\$\d"))
    expect(page.get_by_test_id("pf-pos-realized")).to_have_text(re.compile(r"^\+\$\d"))
