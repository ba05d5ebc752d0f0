"""The trade page's perp header: mark and index from each price_update's ``marks`` and the markets
API, the funding rate charged now and a countdown to the next funding time; a spot page has none."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.web.conftest import off_loop, ready, tick

pytestmark = pytest.mark.django_db(transaction=True)


def _venue_marks(**marks: str) -> None:
    from django.core.cache import cache

    from core.timefmt import iso_utc
    from pricing.venue_marks import venue_key

    now = iso_utc(datetime.now(timezone.utc), timespec="microseconds")
    for venue, mark in marks.items():
        stored = {"mark": mark, "index": None, "funding_rate": "0.00001", "interval_hours": 1, "quote": "USDC",
                  "instrument": "SOL", "next_funding_at": None, "received_at": now}  # fmt: skip
        cache.set(venue_key(venue), {"at": now, "marks": {"SOL-PERP": stored}}, timeout=60)


def test_only_a_perp_page_renders_the_perp_line(client):
    assert 'data-testid="perp-meta"' in client.get("/trade/?market=SOL-PERP").content.decode()
    assert 'data-testid="perp-meta"' not in client.get("/trade/?market=SOL-USD").content.decode()


@pytest.mark.browser
def test_the_perp_header_shows_mark_index_funding_and_a_countdown(page):
    """Venues mark SOL-PERP at 150.40 / 150.60 around a 150 index: the header shows Mark $150.50,
    Index $150.00, the venues' 0.001 % per hour and a running HH:MM:SS countdown."""
    off_loop(_venue_marks, backpack="150.40", binance="150.60")
    tick("150")
    page.goto("/trade/?market=SOL-PERP")
    ready(page)
    meta = page.get_by_test_id("perp-meta")
    expect(meta.get_by_test_id("perp-mark")).to_have_text("$150.50")
    expect(meta.get_by_test_id("perp-index")).to_have_text("$150.00")
    expect(meta.get_by_test_id("funding-rate")).to_have_text("+0.0010% / 1h")
    expect(meta.get_by_test_id("funding-countdown")).to_have_text(re.compile(r"^00:[0-5]\d:[0-5]\d$"))
    off_loop(_venue_marks, backpack="151.00", binance="151.20")
    tick("150.5")
    expect(meta.get_by_test_id("perp-mark")).to_have_text("$151.10")
    expect(meta.get_by_test_id("perp-index")).to_have_text("$150.50")
