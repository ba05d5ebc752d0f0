"""The staleness gate: a missing, old or future-dated record is never served as a price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from pricing.aggregate import IndexPrice
from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import LATEST_PRICE_KEY, price_get_latest, price_latest_age_seconds
from pricing.services import price_tick_accept
from tests.pricing.conftest import FROZEN_NOW

pytestmark = pytest.mark.django_db


def _accept(at):
    index = IndexPrice(
        price=Decimal("79.085"),
        bid=Decimal("79.08"),
        ask=Decimal("79.09"),
        sources=("pyth", "kraken"),
        dispersion=Decimal("0.0001"),
        usd_prices={"pyth": Decimal("79.08"), "kraken": Decimal("79.09")},
    )
    return price_tick_accept(index=index, mode="live", computed_at=at)


def test_a_fresh_price_is_served_within_the_budget(settings):
    """At the frozen clock, a price 15 s old (the budget) is still served; it carries mode and sources."""
    _accept(FROZEN_NOW)
    quote = price_get_latest(now=FROZEN_NOW + timedelta(seconds=settings.PRICE_STALE_SECONDS))
    assert quote.price == Decimal("79.085") and quote.mode == "live" and quote.source_label == "pyth,kraken"
    assert quote.dispersion == Decimal("0.0001")
    assert price_latest_age_seconds(now=FROZEN_NOW + timedelta(seconds=3)) == 3.0


def test_a_price_older_than_the_budget_is_stale(settings):
    """One second past the budget (frozen clock) the gate raises price_stale with Retry-After."""
    _accept(FROZEN_NOW)
    with pytest.raises(PriceStale) as info:
        price_get_latest(now=FROZEN_NOW + timedelta(seconds=settings.PRICE_STALE_SECONDS + 1))
    assert info.value.code == "price_stale" and info.value.status == 503
    assert info.value.headers["Retry-After"] == "2"
    assert info.value.extra["age_seconds"] == settings.PRICE_STALE_SECONDS + 1


def test_a_future_dated_price_is_refused():
    _accept(FROZEN_NOW + timedelta(seconds=30))
    with pytest.raises(PriceStale):
        price_get_latest(now=FROZEN_NOW)


def test_missing_record_is_unavailable():
    with pytest.raises(PriceUnavailable) as info:
        price_get_latest()
    assert info.value.code == "price_unavailable"
    assert info.value.extra["reason"] == "no price has been ingested yet"


def test_the_api_answers_503_price_stale(api_client, settings):
    """A record that outlived its budget (e.g. a paused clock on the writer) is refused by the API too."""
    _accept(FROZEN_NOW)  # months in the past
    response = api_client.get("/api/v1/market/price")
    assert response.status_code == 503 and response.json()["code"] == "price_stale"
    assert response["Retry-After"] == "2"


def test_the_record_ttl_is_the_budget(settings):
    settings.PRICE_STALE_SECONDS = 7
    _accept(FROZEN_NOW)
    from core.redis import redis_client

    assert 0 < redis_client().ttl(cache.make_key(LATEST_PRICE_KEY)) <= 7
