"""The trade page's market picker and per-market tickets: every listed market rendered from the
registry with its kind and status, a halted market flagged and its ticket closed to opening, the
page config carrying each market's rules, and the picker's script reading the markets API's
documented fields (price, change_24h, stale) with sub-cent prices shown at their precision."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import off_loop, ready

pytestmark = pytest.mark.django_db(transaction=True)


def _halt(symbol: str) -> None:
    from pricing.models import Market

    market = Market.objects.get(symbol=symbol)
    market.status = "halted"
    market.save()  # the registry cache is cleared on save


def _config(html: str) -> dict:
    found = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_picker_lists_every_listed_market_with_its_rules_and_flags_a_halted_one(client):
    from pricing.markets import market_list

    _halt("WIF-PERP")
    response = client.get("/trade/?market=wif-perp")
    assert response.status_code == 200
    html = response.content.decode()
    listed = [m.symbol for m in market_list()]
    assert len(listed) >= 12
    assert re.findall(r'data-testid="market-row" data-symbol="([A-Z0-9-]+)"', html) == listed
    assert re.search(r'data-symbol="WIF-PERP"[^>]*data-status="halted"', html)
    assert html.count('data-testid="market-halted"') == 1
    assert 'data-market="WIF-PERP" data-spot="WIF-USD" data-perp="WIF-PERP"' in html
    assert 'data-testid="perp-halted"' in html and 'data-testid="spot-halted"' not in html
    config = _config(html)
    by_symbol = {m["symbol"]: m for m in config["markets"]}
    assert by_symbol["BONK-USD"]["rules"]["price_tick"] == "0.000000001"
    assert by_symbol["BONK-USD"]["rules"]["qty_step"] == "1"
    assert by_symbol["SOL-PERP"]["rules"]["max_leverage"] == "20"
    assert by_symbol["WIF-PERP"]["status"] == "halted" and by_symbol["BONK-PERP"]["index_symbol"] == "BONK-USD"


def test_an_unknown_market_falls_back_to_the_default(client):
    html = client.get("/trade/?market=DOGE-USD").content.decode()
    assert 'data-market="SOL-USD" data-spot="SOL-USD" data-perp="SOL-PERP"' in html


MARKETS_API = {
    "markets": [
        {"symbol": "SOL-USD", "kind": "spot", "status": "active", "index_symbol": "SOL-USD", "price": "150.25",
         "stale": False, "change_24h": "0.0123", "price_24h_ago": "148.42"},
        {"symbol": "BONK-USD", "kind": "spot", "status": "active", "index_symbol": "BONK-USD", "price": "0.0000213",
         "stale": True, "change_24h": "-0.05", "price_24h_ago": "0.0000224"},
        {"symbol": "JUP-PERP", "kind": "perp", "status": "halted", "index_symbol": "JUP-USD", "price": None,
         "stale": False, "change_24h": None, "price_24h_ago": None},
    ]
}  # fmt: skip


@pytest.mark.browser
def test_the_picker_reads_price_and_24h_change_from_the_markets_api_and_searches(page):
    """/api/v1/markets (stubbed with the MarketOut shape) fills price and 24 h change; BONK's
    sub-cent price keeps its digits; a status from the API flags the row; search narrows rows."""
    page.route("**/api/v1/markets", lambda route: route.fulfill(json=MARKETS_API))
    page.goto("/trade/?market=BONK-PERP")
    ready(page)
    picker = page.get_by_test_id("market-picker")
    sol = picker.locator('tr[data-symbol="SOL-USD"]')
    expect(sol.get_by_test_id("market-price")).to_have_text("$150.25")
    expect(sol.get_by_test_id("market-change")).to_have_text("+1.23%")
    bonk = picker.locator('tr[data-symbol="BONK-USD"]')
    expect(bonk.get_by_test_id("market-price")).to_have_text("$0.00002130")
    expect(bonk.get_by_test_id("market-price")).to_have_class(re.compile("stale"))
    expect(bonk.get_by_test_id("market-change")).to_have_text("-5.00%")
    expect(picker.locator('tr[data-symbol="JUP-PERP"]').get_by_test_id("market-halted")).to_have_text("halted")
    expect(page.locator("#market-h")).to_contain_text("BONK-PERP")
    page.get_by_test_id("market-search").fill("bonk")
    expect(picker.locator('tr[data-testid="market-row"]:not([hidden])')).to_have_count(2)
    page.get_by_test_id("market-search").fill("perp sol")
    expect(picker.locator('tr[data-testid="market-row"]:not([hidden])')).to_have_count(1)


@pytest.mark.browser
def test_a_halted_market_disables_its_ticket(page):
    """The server process sees the halt (the test server reads the registry at every use; see
    tests/live_daphne.py); the spot ticket says so and its submit stays disabled."""
    off_loop(_halt, "JTO-USD")
    page.route("**/api/v1/markets", lambda route: route.fulfill(json={"markets": []}))
    page.goto("/trade/?market=JTO-USD")
    ready(page)
    expect(page.get_by_test_id("halted-badge")).to_have_text("halted")
    expect(page.get_by_test_id("spot-halted")).to_be_visible()
    assert page.get_by_test_id("spot-submit").is_disabled()
    expect(page.get_by_test_id("perp-halted")).to_have_count(0)
