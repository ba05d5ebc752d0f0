"""The stream service against local WebSocket and SSE servers replaying the recorded frames: the
index at stream speed from every venue, the beat ingest stepping aside, health in the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from pricing.selectors import price_latest_record
from pricing.services import price_ingest_cycle
from tests.pricing.stream_env import running_service, stream_bench, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
STREAMED = ("pyth", "backpack", "coinbase", "kraken", "binance")


def stream_state(name: str) -> dict | None:
    return cache.get(f"pricing:stream:health:{name}")


def test_every_venue_streams_into_the_index_and_the_beat_ingest_steps_aside(settings, price_server, api_client):
    """Five streams live (subscribed with every listed instrument), SOL-USD's record built from all
    of them at the streamed price; a beat ingest cycle meanwhile is skipped (one writer), and
    /api/v1/market/sources shows each stream live."""
    with stream_bench(settings, price_server) as bench, running_service():
        bench.board.sol = Decimal("80.00")
        record = wait_for(
            lambda: (r := price_latest_record("SOL-USD")) and set(STREAMED) <= set(r["sources"]) and r,
            what="SOL-USD from every stream",
        )
        assert Decimal(record["price"]) == Decimal("80.00")
        assert record["mode"] == "live"
        assert bench.ws["kraken"].subscribes[0]["params"]["symbol"][0] == "SOL/USD"
        assert "SOLUSDT".lower() + "@bookTicker" in bench.ws["binance"].subscribes[0]["params"]
        wait_for(lambda: all((stream_state(n) or {}).get("state") == "live" for n in STREAMED), what="health live")
        report = price_ingest_cycle()
        assert report.skipped and "stream service" in report.reason
        body = api_client.get("/api/v1/market/sources?symbol=SOL-PERP").json()
        streams = {s["name"]: s["stream"] for s in body["sources"]}
        assert all(streams[name]["state"] == "live" and streams[name]["polling"] is False for name in STREAMED)
        assert streams["jupiter"] is None  # no stream: polled
        cycle = body["last_cycle"]  # the service's summary, as the ingest's was
        assert cycle["ok"] and Decimal(cycle["price"]) == Decimal("80.00")
        assert cycle["sources"]["pyth"]["via"] == "stream" and cycle["sources"]["pyth"]["status"] == "ok"
    assert cache.get("pricing:stream:heartbeat") is None  # a stopped service lets beat poll again


def test_backpack_streams_perp_marks_into_the_ticks_marks(settings, price_server):
    """Backpack's connection also subscribes ``markPrice.<perp>`` for the listed perps the venues'
    last poll found there (not WIF-PERP, JTO-PERP here: a stream Backpack lacks could get the
    whole subscription refused); each
    second the service writes the streamed marks into Backpack's venue answer (the one the 5 s
    poll writes), and the ticks mark SOL-PERP from it: 80.04 (5 bp over the streamed 80.00 index),
    with no poll of the venues running."""
    from pricing.services.venue_perps import PERP_LAST_KEY
    from pricing.venue_marks import venue_key

    settings.PERP_VENUES = ["backpack", "binance", "hyperliquid"]
    # The venues' last poll found SOL-PERP and JUP-PERP at Backpack: only those are subscribed.
    cache.set(
        PERP_LAST_KEY,
        {"at": "2026-12-07T00:00:00Z", "venues": {"backpack": {"status": "ok", "markets": ["JUP-PERP", "SOL-PERP"]}}},
    )
    with stream_bench(settings, price_server) as bench, running_service():
        bench.board.sol = Decimal("80.00")
        entry = wait_for(
            lambda: ((cache.get(venue_key("backpack")) or {}).get("marks") or {}).get("SOL-PERP"),
            what="SOL-PERP's streamed Backpack mark",
        )
        assert Decimal(entry["mark"]) == Decimal("80.04") and entry["instrument"] == "SOL_USDC_PERP"
        params = bench.ws["backpack"].subscribes[-1]["params"]
        assert [p for p in params if p.startswith("markPrice.")] == [
            "markPrice.JUP_USDC_PERP",
            "markPrice.SOL_USDC_PERP",
        ]
        assert "bookTicker.SOL_USDC" in params
        perp = wait_for(
            lambda: (r := price_latest_record("SOL-USD")) and r["perps"]["SOL-PERP"]["mark_sources"] == ["backpack"]
            and r["perps"]["SOL-PERP"],
            what="SOL-PERP marked from the stream",
        )  # fmt: skip
        assert Decimal(perp["mark"]) == Decimal("80.04")
        assert cache.get(venue_key("binance")) is None  # nothing polled the venues


def test_the_mark_streams_follow_the_last_good_poll(settings):
    """The perps whose Backpack mark is streamed: those the last poll found at Backpack; a failed
    poll (it found nothing) keeps the set the service has, so one bad poll never reconnects the
    stream."""
    from pricing.services.venue_perps import PERP_LAST_KEY
    from pricing.streams.marks import marks_perp_ids

    settings.PERP_VENUES = ["backpack", "binance"]
    cache.set(PERP_LAST_KEY, {"venues": {"backpack": {"status": "ok", "markets": ["SOL-PERP"]}}})
    found = marks_perp_ids()
    assert found == {"backpack": {"SOL_USDC_PERP": "SOL-PERP"}}
    cache.set(PERP_LAST_KEY, {"venues": {"backpack": {"status": "error", "markets": []}}})
    assert marks_perp_ids(found) == found
    assert marks_perp_ids() == {}  # nothing known yet: nothing streamed
    settings.PERP_VENUES = ["binance"]
    assert marks_perp_ids(found) == {}
