"""Every page in the browser: portfolio, history (pages + CSV), leaderboard (live), status,
sign-in (burner export) and a phone-sized trade page. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from portfolio.leaderboard_changes import leaderboard_update_changed
from tests.web.conftest import api_post, off_loop, ready, shot, sign_in_with_burner, tick

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_burner_keypair_exports_in_solana_keygen_format_and_signs_in_again(page):
    """The burner is kept across visits and exports as a 64-byte JSON array whose last 32 bytes
    are the signed-in address (base58), so a bot can use the same identity."""
    tick("150.00")
    page.goto("/signin/")
    ready_sign_in = page.get_by_role("button", name="Create burner wallet & sign in")
    expect(page.get_by_test_id("no-wallets")).to_be_visible()
    expect(page.get_by_test_id("burner-address")).to_have_text("none yet")
    shot(page, "signin")
    ready_sign_in.click()
    page.wait_for_url("**/trade/")
    address = page.get_by_test_id("account").get_attribute("title")

    page.goto("/signin/")
    expect(page.get_by_test_id("burner-address")).to_have_text(address)
    page.get_by_role("button", name="Export keypair (JSON)").click()
    keypair = json.loads(page.get_by_test_id("burner-export").input_value())
    assert len(keypair) == 64 and all(0 <= b <= 255 for b in keypair)
    from solders.keypair import Keypair

    assert str(Keypair.from_bytes(bytes(keypair)).pubkey()) == address


def test_signed_out_visitors_are_sent_to_sign_in(page):
    """Portfolio and history need a session: the page redirects to /signin/?next=…"""
    page.goto("/portfolio/")
    page.wait_for_url(re.compile(r"/signin/\?next=/portfolio/$"))


def test_portfolio_history_and_leaderboard_follow_a_trade_live(context):
    """With the leaderboard open in one tab, a buy in another tab shows up there without a reload
    once the periodic leaderboard update has run;
    the portfolio shows balances and an equity chart; the history lists orders, fills and
    ledger entries, pages through them, and exports CSV."""
    tick("150.00")
    trade = context.new_page()
    sign_in_with_burner(trade)
    address = trade.get_by_test_id("account").get_attribute("title")
    short = f"{address[:4]}…{address[-4:]}"

    board = context.new_page()
    board.goto("/leaderboard/")
    ready(board)
    expect(board.get_by_test_id("conn")).to_have_attribute("data-state", "live")
    mine = board.locator(f'tr[data-trader="{short}"]')
    expect(mine.get_by_test_id("lb-equity")).to_have_text("$10,000.00")
    off_loop(leaderboard_update_changed)  # beat runs it every LEADERBOARD_UPDATE_SECONDS

    trade.get_by_test_id("spot-amount").fill("2")
    trade.get_by_test_id("spot-submit").click()
    expect(trade.get_by_test_id("spot-msg")).to_contain_text("Filled: bought 2.000 SOL")
    off_loop(leaderboard_update_changed)  # its next run, within the interval of the fill
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("you")
    expect(mine.get_by_test_id("lb-equity")).to_have_text(re.compile(r"^\$9,99\d\.\d\d$"))
    shot(board, "leaderboard")

    page = trade
    page.goto("/portfolio/")
    ready(page)
    expect(page.get_by_test_id("pf-sol")).to_contain_text("2.000")
    expect(page.get_by_test_id("pf-equity")).to_have_text(re.compile(r"^\$9,99\d\.\d\d$"))
    expect(page.get_by_test_id("equity-chart")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    tick("160.00")
    expect(page.get_by_test_id("pf-unrealized")).to_have_text(re.compile(r"^\+\$19\.\d\d$"))
    shot(page, "portfolio")

    for n in range(26):  # 27 orders: two pages of 25
        assert (
            api_post(
                page,
                "orders",
                {"symbol": "SOL-USD", "side": "sell", "type": "market", "qty": "0.01", "client_order_id": f"page-{n}"},
            ).status
            == 201
        )
    page.goto("/history/")
    ready(page)
    table = page.get_by_test_id("history-table")
    expect(table.locator("tbody tr")).to_have_count(25)
    page.get_by_test_id("next").click()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("buy")
    page.get_by_test_id("prev").click()
    expect(table.locator("tbody tr")).to_have_count(25)
    page.get_by_role("tab", name="Fills").click()
    expect(table.locator("thead")).to_contain_text("Liquidity")
    page.get_by_role("tab", name="Ledger").click()
    expect(table).to_contain_text("trade")
    with page.expect_download() as download:
        page.get_by_test_id("ledger-csv").click()
    csv_text = open(download.value.path()).read()
    assert csv_text.splitlines()[0].startswith("id,transaction_id,created_at,reason")
    assert ",grant," in csv_text and ",trade," in csv_text
    page.get_by_role("tab", name="Orders").click()
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    orders_csv = open(download.value.path()).read().splitlines()
    assert (
        orders_csv[0].startswith("created_at,symbol,side,type,status,qty,limit_price,stop_price")
        and len(orders_csv) == 1 + 27
    )
    shot(page, "history")


def test_status_page_shows_the_price_and_readiness(page):
    """The status page shows the aggregated price and mode, each readiness check, and the sources
    table (empty when no ingest ran); a tick updates the price live."""
    tick("150.00")
    page.goto("/status/")
    ready(page)
    expect(page.get_by_test_id("status-price")).to_have_text("$150.0000")
    expect(page.get_by_test_id("checks-table")).to_contain_text("database")
    expect(page.get_by_test_id("checks-table")).to_contain_text("price")
    tick("151.5")
    expect(page.get_by_test_id("status-price")).to_have_text("$151.5000")
    shot(page, "status")


def test_replayed_prices_show_a_banner_and_the_page_fits_a_phone(browser, server):
    """A replayed feed is announced in a banner; on a 390 px screen the trade page stacks without
    horizontal scrolling, and the ticket is reachable with the keyboard."""
    ctx = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        tick("150.00", mode="replay", sources=("replay:SOLUSDT_1h.csv",))
        page.goto("/trade/")
        ready(page)
        expect(page.get_by_test_id("price-banner")).to_contain_text("Replayed prices")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.get_by_test_id("spot-amount").focus()
        page.keyboard.type("0.5")
        expect(page.get_by_test_id("spot-estimate")).to_contain_text("0.500 SOL")
        shot(page, "trade-mobile")
    finally:
        ctx.close()
