"""Mark price per perp market: the venues' marks polled from a local server (recorded payloads) into
Redis, then each accepted tick's record and price_update carry every perp's mark (the median of the
fresh venue marks within the band of the index, else the index) and the venues' median rate."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

from pricing.marks import funding_rate_for, perp_mark_get
from pricing.models import Market, SourceHealth
from pricing.selectors import price_latest_record
from pricing.services import price_ingest_cycle
from pricing.services.venue_perps import INTERVALS_KEY, venue_perps_last, venue_perps_poll
from pricing.venue_marks import VenueMark, perp_entry, venue_key, venue_marks_for
from tests.pricing.conftest import json_route

pytestmark = pytest.mark.django_db
TICK = D("0.000001")


def entry(index: str, *marks: VenueMark, band: str = "0.02", max_age: float = 30) -> dict:
    return perp_entry(index=D(index), marks=marks, max_deviation=D(band), max_age_seconds=max_age, tick=TICK)


def venue(name: str, mark: str, rate: str | None = None, age: float = 1) -> VenueMark:
    return VenueMark(name, D(mark), D(rate) if rate is not None else None, age)


def test_mark_is_the_median_of_the_venues_and_the_rate_theirs():
    out = entry("100", venue("a", "100.3", "0.00001"), venue("b", "100.1", "0.00003"), venue("c", "100.2"))
    assert out["mark"] == "100.200000" and out["mark_sources"] == ["a", "b", "c"]
    assert out["funding_rate"] == "0.000020000" and out["funding_sources"] == ["a", "b"]


def test_two_venues_mark_at_their_midpoint_on_the_tick():
    assert entry("100", venue("a", "100.1000005"), venue("b", "100.2"))["mark"] == "100.150000"


def test_no_venue_marks_at_the_index_with_no_rate():
    out = entry("79.085")
    assert (out["mark"], out["mark_sources"], out["funding_rate"]) == ("79.085", [], None)


def test_a_venue_outside_the_band_or_stale_is_dropped_with_its_reason():
    out = entry("100", venue("a", "100.5"), venue("b", "103", "0.01"), venue("c", "100.7", age=31))
    assert out["mark"] == "100.500000" and out["mark_sources"] == ["a"] and out["funding_rate"] is None
    assert "3.0000% from the index" in out["rejected"]["b"] and "stale" in out["rejected"]["c"]
    assert entry("100", venue("b", "103"))["mark"] == "100"


def test_stored_answers_are_read_per_venue_and_a_broken_entry_is_skipped():
    """Binance's 8 h rate restated per 1 h; an entry whose mark is not a number (or that has no
    receive time) is skipped; a NaN mark is refused as a price."""
    at = datetime(2026, 2, 6, tzinfo=timezone.utc)
    fresh = "2026-02-05T23:59:58Z"
    answers = {
        "binance": {"marks": {"SOL-PERP": {"mark": "100.2", "funding_rate": "0.0008", "interval_hours": 8,
                                           "received_at": fresh}}},
        "backpack": {"marks": {"SOL-PERP": {"mark": "abc", "received_at": fresh}}},
        "hyperliquid": {"marks": {"SOL-PERP": {"mark": "100.1"}}},
    }  # fmt: skip
    marks = venue_marks_for("SOL-PERP", answers, at=at, interval_hours=1)
    assert marks == [VenueMark("binance", D("100.2"), D("0.0001"), 2.0)]
    assert "not a price" in entry("100", venue("x", "NaN"))["rejected"]["x"]


def _ingest_events():
    layer = get_channel_layer()

    async def run():
        channel = await layer.new_channel()
        await layer.group_add("prices.SOL-USD", channel)
        try:
            await sync_to_async(price_ingest_cycle)()
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard("prices.SOL-USD", channel)

    return async_to_sync(run)()


def test_polled_venue_marks_make_the_ticks_mark_record_and_event(live_server_fresh, perp_server, settings):
    """Backpack 79.12, Binance 79.10, Hyperliquid 79.14 around the 79.085 index: SOL-PERP's mark is
    79.12; the rates 0.0000125/1 h, 0.0001/8 h and 0.00002/1 h are 0.0000125 per hour (median).
    BONK-PERP's venues quote 1,000 BONK (1000BONKUSDT 0.01124, kBONK 0.01126): per BONK its mark is
    0.00001125 around the 0.00001123 index, its rate the median of 0.00005/8 h and 0.000008/1 h.
    The price_update carries both prices."""
    settings.FUNDING_INTERVAL_HOURS = 1
    summary = venue_perps_poll()
    assert {v: s["status"] for v, s in summary["venues"].items()} == dict.fromkeys(
        ("backpack", "binance", "hyperliquid"), "ok"
    )
    assert summary["venues"]["hyperliquid"]["markets"] == ["BONK-PERP", "JUP-PERP", "SOL-PERP"]
    assert ("/info", b'{"type": "metaAndAssetCtxs"}') in perp_server.httpd.posts
    message = _ingest_events()
    record = price_latest_record("SOL-USD")
    sol = record["perps"]["SOL-PERP"]
    assert sol["mark"] == "79.120000" and sol["mark_sources"] == ["backpack", "binance", "hyperliquid"]
    assert sol["funding_rate"] == "0.000012500"
    assert record["price"] == "79.08500000"
    data = message["event"]["data"]
    assert data["marks"]["SOL-PERP"] == {
        "mark": "79.120000", "index": "79.08500000", "mark_sources": ["backpack", "binance", "hyperliquid"],
        "funding_rate": "0.000012500",
    }  # fmt: skip
    bonk = price_latest_record("BONK-USD")
    assert bonk["price"] == "0.000011230"
    assert bonk["perps"]["BONK-PERP"] == {
        "mark": "0.000011250", "mark_sources": ["binance", "hyperliquid"], "rejected": {},
        "funding_rate": "0.000007125", "funding_sources": ["binance", "hyperliquid"],
    }  # fmt: skip
    mark = perp_mark_get("SOL-PERP")
    assert (mark.mark, mark.index, mark.funding_rate) == (D("79.120000"), D("79.08500000"), D("0.0000125"))
    assert funding_rate_for(mark, interval_hours=1, cap=D("0.0005")).basis == "venues"
    assert SourceHealth.objects.get(name="perp:binance").last_status == "ok"


def test_at_8_hour_funding_the_rates_are_restated_per_8_hours(live_server_fresh, perp_server, settings):
    settings.FUNDING_INTERVAL_HOURS = 8
    venue_perps_poll()
    price_ingest_cycle()
    assert price_latest_record("SOL-USD")["perps"]["SOL-PERP"]["funding_rate"] == "0.000100000"


def test_a_binance_symbol_at_4_hours_is_restated_from_its_own_interval(live_server_fresh, perp_server, settings):
    """fundingInfo lists SOLUSDT at 4 h: Binance's 0.0001 is 0.000025 per hour, so the hourly median
    of 0.0000125 (Backpack), 0.000025 (Binance) and 0.00002 (Hyperliquid) is 0.00002. The list is
    fetched once per PERP_INTERVALS_REFRESH_SECONDS, not at every poll; when fetching it fails the
    last list is kept (and tried again a minute later)."""
    settings.FUNDING_INTERVAL_HOURS = 1
    perp_server.routes["/fapi/v1/fundingInfo"] = json_route("binance_funding_info_sol_constructed.json")
    venue_perps_poll()
    price_ingest_cycle()
    assert price_latest_record("SOL-USD")["perps"]["SOL-PERP"]["funding_rate"] == "0.000020000"
    venue_perps_poll()
    assert [path for path, *_ in perp_server.hits].count("/fapi/v1/fundingInfo") == 1
    perp_server.routes["/fapi/v1/fundingInfo"] = lambda: (500, {}, b"oops")
    key = INTERVALS_KEY.format(venue="binance")
    cache.set(key, {**cache.get(key), "next_at": "2020-01-01T00:00:00+00:00"})  # due again: fails
    venue_perps_poll()
    price_ingest_cycle()
    assert price_latest_record("SOL-USD")["perps"]["SOL-PERP"]["funding_rate"] == "0.000020000"  # 4 h kept
    stored = cache.get(key)
    assert stored["intervals"] == {"SOLUSDT": 4, "JUPUSDT": 8} and stored["error"] == "HTTP 500: oops"
    assert datetime.fromisoformat(stored["next_at"]) - datetime.now(timezone.utc) <= timedelta(seconds=60)


def test_a_venue_down_is_unhealthy_and_the_others_still_mark(live_server_fresh, perp_server):
    """Binance answers 500: its health says so; the mark is the median of the other two (79.13)."""
    perp_server.routes["/fapi/v1/premiumIndex"] = lambda: (500, {}, b"oops")
    summary = venue_perps_poll()
    assert summary["venues"]["binance"]["status"] == "error" and "HTTP 500" in summary["venues"]["binance"]["error"]
    row = SourceHealth.objects.get(name="perp:binance")
    assert row.last_status == "error" and "HTTP 500" in row.last_error and row.failures == 1
    price_ingest_cycle()
    sol = price_latest_record("SOL-USD")["perps"]["SOL-PERP"]
    assert sol["mark"] == "79.130000" and sol["mark_sources"] == ["backpack", "hyperliquid"]
    assert venue_perps_last()["venues"]["backpack"]["status"] == "ok"


def test_old_venue_answers_never_make_a_mark(live_server_fresh, perp_server):
    """An answer received longer ago than PERP_OBSERVATION_MAX_AGE_SECONDS is dropped (stale)."""
    venue_perps_poll()
    for name in ("backpack", "binance", "hyperliquid"):
        answer = cache.get(venue_key(name))
        old = (datetime.now(timezone.utc) - timedelta(seconds=120)).isoformat()
        for stored in answer["marks"].values():
            stored["received_at"] = old
        cache.set(venue_key(name), answer, timeout=60)
    price_ingest_cycle()
    sol = price_latest_record("SOL-USD")["perps"]["SOL-PERP"]
    assert sol["mark"] == "79.08500000" and sol["mark_sources"] == [] and "stale" in sol["rejected"]["binance"]


def test_a_rate_limited_venue_cools_down(live_server_fresh, perp_server):
    perp_server.routes["/info"] = lambda: (429, {"Retry-After": "30"}, b"")
    assert venue_perps_poll()["venues"]["hyperliquid"]["status"] == "rate_limited"
    hits = len(perp_server.httpd.posts)
    assert venue_perps_poll()["venues"]["hyperliquid"]["status"] == "cooldown"
    assert len(perp_server.httpd.posts) == hits and SourceHealth.objects.get(name="perp:hyperliquid").last_status == (
        "cooldown"
    )


def test_offline_modes_do_not_poll_and_mark_at_the_index(perp_server, settings):
    settings.PRICE_MODE = "synthetic"
    assert "synthetic mode" in venue_perps_poll()["skipped"] and perp_server.hits == []
    price_ingest_cycle()
    record = price_latest_record("SOL-USD")
    assert record["perps"]["SOL-PERP"]["mark"] == record["price"]


def test_markets_api_shows_index_mark_and_funding_of_perps(live_server_fresh, perp_server, settings, api_client):
    """GET /api/v1/markets/SOL-PERP: index 79.085, mark 79.12 from the three venues, the funding
    rate charged now (the venues' 0.0000125 per 1 h), the interval and the next whole hour; a
    spot market has none of these; the list shows the same. A perp without venue ids (BONK-PERP's
    cleared in the admin) is marked at its index and funded by the premium formula."""
    settings.FUNDING_INTERVAL_HOURS = 1
    bonk = Market.objects.get(symbol="BONK-PERP")
    bonk.binance_perp_symbol = bonk.hyperliquid_coin = ""
    bonk.save()  # clears the registry's cache, as an admin edit does
    venue_perps_poll()
    price_ingest_cycle()
    body = api_client.get("/api/v1/markets/SOL-PERP").json()
    assert (body["index"], body["mark"], body["mark_sources"]) == (
        "79.08500000", "79.120000", ["backpack", "binance", "hyperliquid"]
    )  # fmt: skip
    assert (body["funding_rate"], body["funding_basis"], body["funding_capped"]) == ("0.000012500", "venues", False)
    assert body["funding_interval_hours"] == 1
    next_at = datetime.fromisoformat(body["next_funding_at"].replace("Z", "+00:00"))
    now = datetime.now(timezone.utc)
    assert (next_at.minute, next_at.second) == (0, 0) and timedelta(0) < next_at - now <= timedelta(hours=1)
    spot = api_client.get("/api/v1/markets/SOL-USD").json()
    assert spot["mark"] is None and spot["funding_rate"] is None and spot["next_funding_at"] is None
    listed = {m["symbol"]: m for m in api_client.get("/api/v1/markets").json()["markets"]}
    assert listed["SOL-PERP"]["mark"] == "79.120000" and listed["BONK-PERP"]["mark_sources"] == []
    assert listed["BONK-PERP"]["funding_basis"] == "premium"  # no venue rate: the formula, at the index
    assert listed["BONK-PERP"]["funding_rate"] == "0.000012500"


def test_the_newer_observation_of_a_market_wins_whoever_writes_it():
    """The poll (every 5 s) and the stream service (every second) both write a venue's answer: per
    market the entry with the later ``received_at`` stays, so a poll's older answer never replaces
    a streamed mark; other markets' entries are kept beside it."""
    from pricing.services.venue_perps import venue_answer_merge

    now = datetime.now(timezone.utc)

    def entry(mark: str, seconds_ago: float) -> dict:
        at = (now - timedelta(seconds=seconds_ago)).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return {"mark": mark, "index": None, "funding_rate": None, "interval_hours": 1, "quote": "USDC",
                "instrument": "SOL_USDC_PERP", "next_funding_at": None, "received_at": at}  # fmt: skip

    venue_answer_merge("backpack", {"SOL-PERP": entry("80.04", 0.5)}, now)  # streamed
    venue_answer_merge("backpack", {"SOL-PERP": entry("79.90", 4), "JUP-PERP": entry("0.42", 4)}, now)  # polled
    marks = cache.get(venue_key("backpack"))["marks"]
    assert (marks["SOL-PERP"]["mark"], marks["JUP-PERP"]["mark"]) == ("80.04", "0.42")
    venue_answer_merge("backpack", {"SOL-PERP": entry("80.10", 0)}, now)
    assert cache.get(venue_key("backpack"))["marks"]["SOL-PERP"]["mark"] == "80.10"


def test_bonk_perps_venue_contracts_are_per_1000_bonk(settings):
    """The migrated registry lists BONK-PERP at Binance (1000BONKUSDT) and Hyperliquid (kBONK) with a
    contract size of 1000; an observation of such a contract is stored per BONK, whichever path
    writes it (the stream service's entry shown here); a contract size of 0 is refused."""
    from django.db import IntegrityError, transaction

    from pricing.markets import registry_get
    from pricing.perp_sources import PerpObservation
    from pricing.services.venue_perps import venue_marks_stored

    market = registry_get().markets["BONK-PERP"]
    assert market.venue_ids == {"binance": "1000BONKUSDT", "hyperliquid": "kBONK"}
    assert market.contract_size == D("1000")
    assert registry_get().markets["SOL-PERP"].contract_size == D("1")
    seen = PerpObservation(
        source="binance", instrument="1000BONKUSDT", mark=D("0.01124"), index=D("0.011232"),
        funding_rate=D("0.00005"), interval_hours=8, quote="USDT", received_at=datetime.now(timezone.utc),
    )  # fmt: skip
    stored = venue_marks_stored([seen], {"1000BONKUSDT": "BONK-PERP"})["BONK-PERP"]
    assert (D(stored["mark"]), D(stored["index"])) == (D("0.00001124"), D("0.000011232"))
    assert stored["funding_rate"] == "0.00005"  # a fraction: not scaled
    with pytest.raises(IntegrityError), transaction.atomic():
        Market.objects.filter(symbol="BONK-PERP").update(perp_contract_size=0)
