"""Prices per market: one cycle prices every listed token (each on its own quorum), the markets
API shows rules, price and 24 h change, and the per-market price/candles/sources endpoints."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from pricing.markets import registry_clear
from pricing.models import Candle, Market, Token
from pricing.selectors import price_ingest_last, price_latest_record
from pricing.services import candle_record_tick, price_ingest_run
from pricing.services.offline_feed import SYNTHETIC_STATE_KEY
from tests.pricing.conftest import FROZEN_NOW

pytestmark = pytest.mark.django_db
INDEXES = ["SOL-USD", "JUP-USD", "BONK-USD", "WIF-USD", "JTO-USD", "PYTH-USD", "RAY-USD"]


def test_one_cycle_prices_every_listed_token_in_few_requests(recorded_server):
    """Seven tokens, six sources: one request each for Pyth, Jupiter, Kraken, Binance and Backpack
    (/tickers) and one per Coinbase product; every index priced with its own sources."""
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.ok, report.reason
    assert list(report.indexes) == INDEXES
    requests = {r.source: r.requests for r in report.results}
    assert requests == {"pyth": 1, "jupiter": 1, "backpack": 1, "coinbase": 5, "kraken": 1, "binance": 1}
    assert len(recorded_server.hits) == 10
    ray = report.indexes["RAY-USD"].quote
    assert set(ray.sources) == {"pyth", "kraken", "binance", "backpack"}, "RAY is not on Coinbase"
    bonk = price_latest_record("BONK-USD")
    assert bonk["symbol"] == "BONK-USD" and Decimal(bonk["price"]) < Decimal("0.0001")
    assert Decimal(bonk["price"]).as_tuple().exponent == -9, "a sub-cent index keeps 9 decimal places"
    last = price_ingest_last()
    assert last["indexes"]["BONK-USD"]["markets"] == ["BONK-USD", "BONK-PERP"]
    assert last["sources"]["coinbase"]["requests"] == 5


def test_a_token_below_its_quorum_writes_nothing_while_the_others_go_on(recorded_server):
    """Coinbase does not list RAY; with Pyth, Kraken and Backpack down RAY has one usable source
    (Jupiter is the outlier): no record, its reason kept; the others priced."""
    for source in ("pyth", "kraken", "backpack"):
        recorded_server.serve(source, lambda: (500, {}, b"oops"))
    report = price_ingest_run(now=FROZEN_NOW)
    assert not report.indexes["RAY-USD"].ok and price_latest_record("RAY-USD") is None
    assert report.indexes["SOL-USD"].ok and report.indexes["BONK-USD"].ok
    assert "RAY-USD: no price:" in report.reason


def test_quorum_is_per_token(recorded_server):
    """RAY's quorum raised to 5 (it has 4 agreeing sources): no RAY price; lowered to 1 with only
    Binance answering: priced."""
    Token.objects.filter(code="RAY").update(quorum=5)
    registry_clear()
    assert not price_ingest_run(now=FROZEN_NOW).indexes["RAY-USD"].ok
    Token.objects.filter(code="RAY").update(quorum=1)
    registry_clear()
    for source in ("pyth", "jupiter", "kraken", "backpack"):
        recorded_server.serve(source, lambda: (500, {}, b"oops"))
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.indexes["RAY-USD"].quote.sources == ("binance",)


def test_an_instrument_the_source_does_not_know_is_reported_per_market(recorded_server):
    """Kraken refuses the whole list for an unknown pair: asked again one pair per request, only the
    token with the unknown pair loses Kraken; the summary says so for that index."""
    Token.objects.filter(code="JTO").update(kraken_pair="NOPEUSD")
    registry_clear()

    report = price_ingest_run(now=FROZEN_NOW)
    assert report.ok
    assert "kraken" not in report.indexes["JTO-USD"].quote.sources
    assert "kraken" in report.indexes["SOL-USD"].quote.sources
    jto = price_ingest_last()["indexes"]["JTO-USD"]["sources"]["kraken"]
    assert jto["status"] == "error" and "NOPEUSD" in jto["error"]


def test_the_price_update_event_names_the_markets_on_the_index(recorded_server):
    layer = get_channel_layer()

    async def subscribe_ingest_receive():
        channel = await layer.new_channel()
        await layer.group_add("prices.BONK-USD", channel)
        try:
            await sync_to_async(price_ingest_run)(now=FROZEN_NOW)
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard("prices.BONK-USD", channel)

    data = async_to_sync(subscribe_ingest_receive)()["event"]["data"]
    assert data["symbol"] == "BONK-USD" and data["markets"] == ["BONK-USD", "BONK-PERP"]


def test_synthetic_mode_walks_every_token_with_its_own_row(settings):
    """No PRICE_SYNTHETIC_* override: each token walks from its registry start, state per index."""
    settings.PRICE_MODE = "synthetic"
    settings.PRICE_SYNTHETIC_SEED = settings.PRICE_SYNTHETIC_START = settings.PRICE_SYNTHETIC_VOLATILITY = None
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.ok and report.quotes["BONK-USD"].mode == "synthetic"
    assert report.quotes["BONK-USD"].sources == ("synthetic:seed=BONK",)
    assert abs(report.quotes["BONK-USD"].price - Decimal("0.0000213")) <= Decimal("0.0000213") * Decimal("0.001")
    assert report.quotes["SOL-USD"].sources == ("synthetic:seed=42",)
    from django.core.cache import cache

    assert cache.get(SYNTHETIC_STATE_KEY.format(symbol="JUP-USD"))["step"] == 1


def test_replay_drives_sol_and_the_others_walk(settings):
    from tests.conftest import SHARED

    csv = SHARED / "data" / "SOLUSDT_1h.csv"
    if not csv.exists():
        pytest.skip("no tape")
    settings.PRICE_MODE = "replay"
    settings.PRICE_REPLAY_CSV = str(csv)
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.quotes["SOL-USD"].mode == "replay" and report.quotes["WIF-USD"].mode == "synthetic"
    assert Candle.objects.get(symbol="WIF-USD").mode == "synthetic"


# --- API ---------------------------------------------------------------------------------------


def test_markets_list_shows_rules_price_and_24h_change(recorded_server, api_client):
    now = datetime.now(timezone.utc)
    candle_record_tick(price=Decimal("75"), sources=3, at=now - timedelta(hours=24, minutes=5), mode="live")
    price_ingest_run()  # recorded payloads at the real clock: SOL's Pyth is old, the others price it
    body = api_client.get("/api/v1/markets").json()
    symbols = [m["symbol"] for m in body["markets"]]
    assert symbols[:2] == ["SOL-USD", "SOL-PERP"] and len(symbols) == 12
    sol = body["markets"][0]
    assert sol["kind"] == "spot" and sol["status"] == "active" and sol["index_symbol"] == "SOL-USD"
    assert sol["base"] == {
        "code": "SOL",
        "name": "Solana",
        "mint": "So11111111111111111111111111111111111111112",
        "decimals": 9,
    }
    assert sol["rules"] == {"qty_step": "0.001", "min_qty": "0.001", "min_notional": "1", "max_notional": "1000000",
                            "price_tick": "0.000001", "max_leverage": None, "mmr": None}  # fmt: skip
    assert sol["price_24h_ago"] == "75.000000000" or Decimal(sol["price_24h_ago"]) == Decimal(75)
    assert sol["stale"] is False and sol["price_mode"] == "live"
    assert Decimal(sol["change_24h"]) == ((Decimal(sol["price"]) - 75) / 75).quantize(Decimal("0.000001"))
    perp = body["markets"][1]
    assert perp["rules"]["max_leverage"] == "20" and perp["rules"]["mmr"] == "0.005"
    bonk = next(m for m in body["markets"] if m["symbol"] == "BONK-USD")
    assert bonk["change_24h"] is None and bonk["rules"]["price_tick"] == "0.000000001"


def test_market_detail_and_unknown_symbol(api_client):
    response = api_client.get("/api/v1/markets/BONK-PERP")
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "perp" and body["price"] is None and body["stale"] is True
    missing = api_client.get("/api/v1/markets/NOPE-USD")
    assert missing.status_code == 404 and missing.json()["code"] == "market_not_found"


def test_reading_every_market_costs_two_queries(api_client, django_assert_num_queries):
    """The candles of a day ago and the perps' last funding runs, whatever the number of markets."""
    api_client.get("/api/v1/markets")  # warm the registry
    with django_assert_num_queries(2):
        assert api_client.get("/api/v1/markets").status_code == 200


def test_price_candles_and_sources_take_a_symbol(recorded_server, api_client):
    price_ingest_run()
    price = api_client.get("/api/v1/market/price", {"symbol": "BONK-PERP"})
    assert price.status_code == 200 and price.json()["symbol"] == "BONK-USD"
    assert len(price.json()["price"].split(".")[1]) == 9
    assert api_client.get("/api/v1/market/price").json()["symbol"] == "SOL-USD"
    candles = api_client.get("/api/v1/market/candles", {"symbol": "WIF-USD", "limit": 1}).json()
    assert len(candles) == 1
    sources = api_client.get("/api/v1/market/sources", {"symbol": "RAY-USD"}).json()
    assert sources["symbol"] == "RAY-USD" and sources["quorum"] == 2
    assert set(sources["last_cycle"]["sources"]) == {"pyth", "jupiter", "kraken", "binance", "backpack"}
    coinbase = next(s for s in sources["sources"] if s["name"] == "coinbase")
    assert coinbase["instrument"] is None
    for path in ("market/price", "market/candles", "market/sources"):
        response = api_client.get(f"/api/v1/{path}", {"symbol": "NOPE-USD"})
        assert response.status_code == 404 and response.json()["code"] == "market_not_found", path


def test_a_stale_price_on_one_market_leaves_the_others(recorded_server, api_client):
    """BONK's last record is older than the budget: its markets show it stale (last price), the others fresh."""
    price_ingest_run()
    Market.objects.filter(symbol__startswith="BONK").update(status="halted")
    registry_clear()
    from django.core.cache import cache

    cache.delete("price:latest:BONK-USD")
    markets = {m["symbol"]: m for m in api_client.get("/api/v1/markets").json()["markets"]}
    assert markets["BONK-USD"]["stale"] is True and markets["BONK-USD"]["price"] is not None
    assert markets["BONK-USD"]["status"] == "halted"
    assert markets["SOL-USD"]["stale"] is False
    assert api_client.get("/api/v1/market/price", {"symbol": "BONK-USD"}).status_code == 503


def test_the_browsable_api_renders_the_markets(api_client):
    response = api_client.get("/api/v1/markets", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"SOL-PERP" in response.content
