"""The live test server between tests: each test's flush and re-seed of the market registry is what
the server serves next, never a registry it cached during the previous test (the stall behind a
page that found no market, and a socket whose price subscription named an unknown symbol)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_market_halted_in_one_test_is_seen_by_the_server(server):
    from pricing.models import Market

    market = Market.objects.get(symbol="JTO-USD")
    market.status = "halted"
    market.save()
    assert httpx.get(f"{server}/api/v1/markets/JTO-USD").json()["status"] == "halted"


def test_the_next_test_is_served_its_own_seed_at_once(server):
    """Runs right after the halt (well within the 2 s registry TTL of a production process): the
    flush and the re-seed made JTO-USD active again, and the server says so at its first request."""
    assert httpx.get(f"{server}/api/v1/markets/JTO-USD").json()["status"] == "active"
