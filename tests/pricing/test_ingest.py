"""Ingest end to end: sources on a local HTTP server -> index in the cache -> API, events, tick hook."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.core.management import call_command

from core import hooks
from pricing.models import Candle, SourceHealth
from pricing.selectors import LATEST_PRICE_KEY, price_get_latest, price_latest_record
from pricing.services import price_ingest_cycle, price_ingest_run
from pricing.services.lock import ingest_lock
from tests.conftest import closed_port
from tests.pricing.conftest import FROZEN_NOW, json_route, mutated_route

pytestmark = pytest.mark.django_db

# pyth 79.08123456, backpack 79.07 (USDC), coinbase mid 79.095, kraken mid 79.095, binance mid 79.085 (USDT)
# and jupiter's documented 147.47893… (an outlier: dropped). Median of the five kept = 79.085.
EXPECTED_PRICE = Decimal("79.08500000")
EXPECTED_SOURCES = ["pyth", "backpack", "coinbase", "kraken", "binance"]
SOL = "SOL-USD"


def test_ingest_prices_once_produces_the_expected_index_and_the_api_returns_it(live_server_fresh, api_client):
    """`ingest_prices --once` against recorded payloads stores the index; GET /market/price returns it."""
    out = io.StringIO()
    call_command("ingest_prices", "--once", stdout=out)
    printed = out.getvalue()
    for source in ("pyth", "jupiter", "backpack", "coinbase", "kraken", "binance"):
        assert source in printed
    assert "REJECTED (outlier" in printed and "SOL-USD 79.08500000" in printed

    response = api_client.get("/api/v1/market/price")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["price"] == "79.08500000"
    assert body["sources"] == EXPECTED_SOURCES
    assert body["mode"] == "live"
    assert Decimal(body["bid"]) < Decimal(body["price"]) < Decimal(body["ask"])
    assert body["dispersion"] == "0.000316"  # (79.095 - 79.07) / 79.085
    assert body["computed_at"].endswith("Z")
    paths = {hit[0] for hit in live_server_fresh.hits}
    assert {p.split("/")[1] for p in paths} == {"v2", "price", "api", "products", "0"}, "every source was polled"
    assert {"/api/v1/tickers", "/api/v3/ticker/bookTicker"} <= paths


def test_recorded_payloads_with_a_frozen_clock_give_the_same_index(recorded_server):
    """Unmodified recorded payloads (timestamps 2026-02-05T23:59:50Z) are fresh at the frozen clock."""
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.ok, report.reason
    assert report.indexes[SOL].quote.price == EXPECTED_PRICE
    assert list(report.indexes[SOL].quote.sources) == EXPECTED_SOURCES
    record = price_latest_record()
    assert record["prices"]["jupiter"] == "147.4789340738336"
    assert record["rejected"]["jupiter"].startswith("outlier")


def test_stale_pyth_payload_is_left_out_at_the_frozen_clock(recorded_server):
    """Pyth's 1000 s-old publish_time is rejected; the others still make the index."""
    recorded_server.serve("pyth", json_route("pyth_hermes_v2_latest_sol_stale_constructed.json"))
    report = price_ingest_run(now=FROZEN_NOW)
    assert "pyth" not in report.indexes[SOL].quote.sources
    health = SourceHealth.objects.get(name="pyth")
    assert health.last_status == "rejected" and "old" in health.last_error


def test_the_record_expires_with_the_staleness_budget(live_server_fresh, settings):
    """The latest record is written with TTL = PRICE_STALE_SECONDS, so missing means stale."""
    from core.redis import redis_client

    price_ingest_cycle()
    ttl = redis_client().ttl(cache.make_key(LATEST_PRICE_KEY))
    assert 0 < ttl <= settings.PRICE_STALE_SECONDS


def test_every_accepted_tick_is_published_and_signalled(live_server_fresh):
    """A price_update event reaches group prices.SOL-USD and the price_tick_accepted hook gets the quote."""
    layer = get_channel_layer()
    quotes = []
    trading = hooks.price_tick_accepted.implementation

    def recording(*, quote):
        quotes.append(quote)
        trading(quote=quote)

    async def subscribe_ingest_receive():
        # The pub/sub layer delivers only to subscriptions live in this event loop.
        channel = await layer.new_channel()
        await layer.group_add("prices.SOL-USD", channel)
        try:
            await sync_to_async(price_ingest_cycle)()
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard("prices.SOL-USD", channel)

    with hooks.price_tick_accepted.replaced(recording):
        message = async_to_sync(subscribe_ingest_receive)()
    assert message["type"] == "relay"
    event = message["event"]
    assert event["type"] == "price_update" and event["seq"] >= 1
    assert event["data"]["price"] == "79.08500000"
    assert event["data"]["sources"] == EXPECTED_SOURCES
    assert event["data"]["mode"] == "live" and "bid" in event["data"] and "ask" in event["data"]
    quotes = [q for q in quotes if q.symbol == SOL]
    assert len(quotes) == 1 and quotes[0].price == EXPECTED_PRICE and quotes[0].source_label.startswith("pyth,")


def test_a_failing_tick_hook_does_not_break_ingest(live_server_fresh):
    def broken(*, quote):
        raise RuntimeError("liquidation engine bug")

    with hooks.price_tick_accepted.replaced(broken):
        report = price_ingest_cycle()
    assert report.ok and price_get_latest().price == EXPECTED_PRICE


def test_no_reachable_source_pauses_trading_with_a_clear_reason(price_server, settings, api_client):
    """Every source unreachable: no record, and the API's 503 says why (with Retry-After)."""
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in (
        "PYTH_HERMES_URL",
        "JUPITER_PRICE_URL",
        "BACKPACK_API_URL",
        "COINBASE_API_URL",
        "KRAKEN_API_URL",
        "BINANCE_API_URL",
    ):
        setattr(settings, name, dead)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("ingest_prices", "--once", stdout=out)
    assert "ConnectError" in out.getvalue() and "no price: 0 of 2" in out.getvalue()
    response = api_client.get("/api/v1/market/price")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    body = response.json()
    assert body["code"] == "price_unavailable"
    assert body["extra"]["reason"].startswith("no price: 0 of 2 required sources usable")
    assert SourceHealth.objects.get(name="kraken").failures == 1


def test_a_single_surviving_source_is_below_quorum(recorded_server):
    """Only Kraken answers: one source is below the default quorum of two, so nothing is written."""
    for source in ("pyth", "jupiter", "backpack", "coinbase", "binance"):
        recorded_server.serve(source, lambda: (500, {}, b"oops"))
    report = price_ingest_run(now=FROZEN_NOW)
    assert not report.ok and "1 of 2" in report.indexes[SOL].reason
    assert price_latest_record() is None


def test_rate_limit_starts_a_cooldown_honouring_retry_after(recorded_server, api_client):
    """A 429 with Retry-After: 120 cools the source down; the next cycle does not call it."""
    recorded_server.serve("binance", lambda: (429, {"Retry-After": "120"}, b'{"code":-1003,"msg":"Too many"}'))
    first = price_ingest_run(now=FROZEN_NOW)
    binance = next(r for r in first.results if r.source == "binance")
    assert binance.status == "rate_limited"
    assert binance.cooldown_until == FROZEN_NOW + timedelta(seconds=120)
    calls = sum(1 for hit in recorded_server.hits if hit[0] == "/api/v3/ticker/bookTicker")

    second = price_ingest_run(now=FROZEN_NOW + timedelta(seconds=2))
    assert next(r for r in second.results if r.source == "binance").status == "cooldown"
    assert sum(1 for hit in recorded_server.hits if hit[0] == "/api/v3/ticker/bookTicker") == calls
    assert second.ok

    body = api_client.get("/api/v1/market/sources").json()
    row = next(s for s in body["sources"] if s["name"] == "binance")
    assert row["status"] == "cooldown" and row["failures"] == 1


def test_sources_endpoint_reports_health_of_each_source(recorded_server, api_client):
    price_ingest_run(now=FROZEN_NOW)
    body = api_client.get("/api/v1/market/sources").json()
    assert body["mode"] == "live" and body["quorum"] == 2
    assert [s["name"] for s in body["sources"]] == ["pyth", "jupiter", "backpack", "coinbase", "kraken", "binance"]
    pyth = body["sources"][0]
    assert pyth["status"] == "ok" and pyth["last_price"] == "79.081234560000" and pyth["successes"] == 1
    assert pyth["last_latency_ms"] is not None
    jupiter = body["sources"][1]
    assert jupiter["status"] == "rejected" and jupiter["last_error"].startswith("SOL-USD: outlier")
    assert body["last_cycle"]["ok"] is True and body["last_cycle"]["price"] == "79.08500000"


def test_api_keys_and_user_agent_are_sent(recorded_server, settings):
    settings.PYTH_API_KEY = "pk"
    settings.JUPITER_API_KEY = "jk"
    price_ingest_run(now=FROZEN_NOW)
    headers = {path: {k.lower(): v for k, v in h.items()} for path, _q, h in recorded_server.hits}
    assert headers["/v2/updates/price/latest"]["authorization"] == "Bearer pk"
    assert headers["/price/v3"]["x-api-key"] == "jk"
    assert headers["/products/SOL-USD/ticker"]["user-agent"].startswith("solpaper")


def test_ticks_fold_into_the_minute_candle(recorded_server):
    price_ingest_run(now=FROZEN_NOW)
    recorded_server.serve("kraken", lambda: (500, {}, b""))
    price_ingest_run(now=FROZEN_NOW + timedelta(seconds=2))
    candle = Candle.objects.get(symbol=SOL)
    assert candle.start == FROZEN_NOW and candle.ticks == 2 and candle.sources == 5 and candle.mode == "live"


def test_a_cycle_is_skipped_while_another_holds_the_lock(live_server_fresh):
    """Runs never pile up: with the lock held, the scheduled cycle is skipped and polls nothing."""
    with ingest_lock() as held:
        assert held
        report = price_ingest_cycle()
    assert report.skipped and live_server_fresh.hits == []
    assert price_ingest_cycle().ok, "the lock is released afterwards"


def test_beat_entry_runs_every_interval_with_expires(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["pricing-ingest"]
    assert entry["task"] == "pricing.ingest"
    assert entry["schedule"] == settings.PRICE_INGEST_INTERVAL_SECONDS == 2
    assert entry["options"]["expires"] == 2


def test_the_celery_task_runs_one_cycle(live_server_fresh):
    from pricing.tasks import ingest

    assert ingest.apply().get() == "ok"
    assert price_get_latest().price == EXPECTED_PRICE


def test_a_depegged_usdt_rate_from_pyth_converts_binance_quotes(recorded_server):
    """Pyth says USDT = 0.993 (0.7 % off, beyond 0.5 %): Binance's USDT mid is converted to USD;
    USDC at 0.99995 is within the band, so Backpack's USDC price counts as USD."""
    recorded_server.serve("pyth", json_route("pyth_hermes_v2_latest_sol_usdc_usdt_constructed.json"))
    price_ingest_run(now=FROZEN_NOW)
    record = price_latest_record()
    assert Decimal(record["prices"]["binance"]) == Decimal("79.085") * Decimal("0.993")
    assert Decimal(record["prices"]["backpack"]) == Decimal("79.07")


def test_reads_are_cheap(recorded_server, django_assert_num_queries):
    """The latest price costs no database query; source health and candles one query each."""
    from pricing.selectors import candle_list, source_health_list

    price_ingest_run(now=FROZEN_NOW)
    with django_assert_num_queries(0):
        price_latest_record()
    with django_assert_num_queries(1):
        assert len(source_health_list()) == 6
    with django_assert_num_queries(1):
        assert len(candle_list(interval="1h", limit=24, end=FROZEN_NOW + timedelta(minutes=1), mode="live")) == 1


def _coinbase_at(mid: str):
    def mutate(payload):
        payload["bid"] = payload["ask"] = payload["price"] = mid

    return mutated_route("coinbase", mutate)


def _kraken_at(mid: str):
    def mutate(payload):
        entry = payload["result"]["SOLUSD"]
        entry["a"][0] = entry["b"][0] = entry["c"][0] = mid

    return mutated_route("kraken", mutate)


def test_two_sources_that_disagree_pause_trading_with_a_clear_reason(recorded_server, api_client):
    """Only Coinbase (100) and Kraken (103.9) answer: 3.8 % apart, above PRICE_OUTLIER_PCT, and two
    sources cannot say which is right. No index is written (not the 101.95 midpoint); the 503
    price_unavailable, the last cycle and both sources' health say that the sources disagree."""
    for source in ("pyth", "jupiter", "backpack", "binance"):
        recorded_server.serve(source, lambda: (500, {}, b"oops"))
    recorded_server.serve("coinbase", _coinbase_at("100"))
    recorded_server.serve("kraken", _kraken_at("103.9"))
    report = price_ingest_run(now=FROZEN_NOW).indexes[SOL]
    assert not report.ok
    assert report.reason.startswith("no price: sources disagree: coinbase 100, kraken 103.9")
    assert price_latest_record() is None

    response = api_client.get("/api/v1/market/price")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "price_unavailable" and body["extra"]["reason"] == report.reason
    last = api_client.get("/api/v1/market/sources").json()["last_cycle"]
    assert last["ok"] is False and last["reason"] == report.reason
    for name in ("coinbase", "kraken"):
        assert last["sources"][name]["status"] == "rejected" and "disagree" in last["sources"][name]["error"]
        health = SourceHealth.objects.get(name=name)  # its other tokens' prices were used: ok, SOL's problem noted
        assert health.last_status == "ok" and health.last_error.startswith("SOL-USD: sources disagree")


def test_two_sources_that_agree_still_make_the_index(recorded_server):
    """Coinbase 100 and Kraken 101.9 (1.9 % apart) agree within the limit: the index is 100.95."""
    for source in ("pyth", "jupiter", "backpack", "binance"):
        recorded_server.serve(source, lambda: (500, {}, b"oops"))
    recorded_server.serve("coinbase", _coinbase_at("100"))
    recorded_server.serve("kraken", _kraken_at("101.9"))
    report = price_ingest_run(now=FROZEN_NOW)
    assert report.indexes[SOL].ok and report.indexes[SOL].quote.price == Decimal("100.95000000")
