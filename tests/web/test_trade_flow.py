"""The thin end-to-end slice in a real browser: burner sign-in, live price, a market buy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import shot, sign_in_with_burner, tick

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_burner_sign_in_live_price_and_a_buy_fills_without_reload(page):
    """A burner wallet signs in (SIWS over ed25519 in the browser); the trade page shows the price
    from the feed and moves with each tick; a 1 SOL buy fills and the fills table, balances and
    chart markers update in place (no navigation)."""
    tick("150.00")
    address = sign_in_with_burner(page)
    assert address and len(address) >= 32
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.get_by_test_id("price")).to_have_text("$150.00")
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("balance-usd")).to_have_text("$10,000.00")

    tick("151.25")
    expect(page.get_by_test_id("price")).to_have_text("$151.25")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-last-close", "151.25")
    expect(page.get_by_test_id("price-source")).to_have_text("pyth, coinbase, kraken")

    page.get_by_test_id("spot-amount").fill("1")
    expect(page.get_by_test_id("spot-estimate")).to_contain_text("1.000 SOL")
    page.evaluate("window.__sameDocument = true")
    page.get_by_test_id("spot-submit").click()
    expect(page.get_by_test_id("spot-msg")).to_contain_text("Filled: bought 1.000 SOL")
    expect(page.get_by_test_id("fills-table").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("fills-table")).to_contain_text("buy")
    expect(page.get_by_test_id("balance-sol")).to_have_text("1.000 SOL")
    expect(page.get_by_test_id("balance-usd")).not_to_have_text("$10,000.00")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-fill-markers", "1")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    shot(page, "trade")


def test_order_errors_are_shown_from_the_api_codes(page):
    """A sell with no SOL answers insufficient_funds and the ticket says so in words."""
    tick("150.00")
    sign_in_with_burner(page)
    page.get_by_test_id("spot-side").get_by_role("radio", name="Sell").click()
    page.get_by_test_id("spot-amount").fill("2")
    page.get_by_test_id("spot-submit").click()
    expect(page.get_by_test_id("spot-msg")).to_have_text(
        re.compile(r"Not enough SOL: 0(\.0+)? available, 2(\.0+)? needed")
    )
