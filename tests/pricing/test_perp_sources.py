"""The venues' perp market data parsers on recorded payloads (tests/pricing/fixtures, see its README)
and on malformed ones: Decimal only, one bad entry fails that instrument, a bad answer the venue."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from pricing.perp_sources import PERP_SOURCE_CLASSES
from pricing.sources import SourceError, SourceRateLimited
from tests.pricing.conftest import FROZEN_NOW, fixture_bytes, fixture_json


def parse(venue: str, body: bytes | object, ids: list[str], *, status: int = 200, headers: dict | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    source = PERP_SOURCE_CLASSES[venue]()
    return source.parse(status=status, body=raw, headers=headers or {}, received_at=FROZEN_NOW, ids=ids)


def test_backpack_mark_prices_capture_parses_every_market_with_its_hourly_rate():
    """The captured /api/v1/markPrices: AAVE's mark, index and rate as exact Decimals, its next
    funding time from ms; an hourly interval (a Backpack rate is per 1 h)."""
    reading = parse("backpack", fixture_bytes("backpack_mark_prices_capture_taolifunding.json"),
                    ["AAVE_USDC_PERP", "0G_USDC_PERP", "SOL_USDC_PERP"])  # fmt: skip
    aave = reading.observations["AAVE_USDC_PERP"]
    assert (aave.mark, aave.index, aave.funding_rate) == (D("285.78212281"), D("285.79854845"), D("0.0000125"))
    assert (aave.interval_hours, aave.quote) == (1, "USDC")
    assert aave.next_funding_at == datetime(2025, 10, 3, 11, 0, tzinfo=timezone.utc)
    assert reading.observations["0G_USDC_PERP"].funding_rate == D("-0.000179157")
    assert reading.errors == {"SOL_USDC_PERP": "SOL_USDC_PERP is absent from the answer"}


def test_binance_premium_index_docs_rate_is_per_8_hours():
    """The documented premiumIndex: lastFundingRate 0.00038246 per 8 h is 0.0000478075 per hour."""
    reading = parse("binance", fixture_bytes("binance_premium_index_docs.json"), ["BTCUSDT"])
    btc = reading.observations["BTCUSDT"]
    assert (btc.mark, btc.index, btc.funding_rate) == (D("11793.63104562"), D("11781.80495970"), D("0.00038246"))
    assert btc.interval_hours == 8 and btc.quote == "USDT"
    assert btc.rate_per(1) == D("0.0000478075") and btc.rate_per(8) == D("0.00038246")
    assert btc.next_funding_at == datetime(2020, 8, 14, 8, 0, tzinfo=timezone.utc)


def test_binance_one_symbol_answer_is_an_object_and_an_error_code_fails_the_venue():
    entry = fixture_json("binance_premium_index_sol_constructed.json")[0]
    assert parse("binance", entry, ["SOLUSDT"]).observations["SOLUSDT"].mark == D("79.10000000")
    with pytest.raises(SourceError, match="-1121"):
        parse("binance", {"code": -1121, "msg": "Invalid symbol."}, ["NOPEUSDT"], status=400)


def test_hyperliquid_docs_contexts_pair_with_the_universe_by_position():
    """metaAndAssetCtxs: the n-th context is the n-th coin's; funding is per hour, oraclePx the index."""
    reading = parse("hyperliquid", fixture_bytes("hyperliquid_meta_and_asset_ctxs_docs.json"), ["ETH", "HPOS", "SOL"])
    eth = reading.observations["ETH"]
    assert (eth.mark, eth.index, eth.funding_rate, eth.interval_hours) == (D("6.0436"), D("6.0457"), D("0.0000125"), 1)
    assert reading.observations["HPOS"].mark == D("8.4542")
    assert "SOL" in reading.errors


def test_hyperliquid_request_is_a_post_of_the_info_type():
    spec = PERP_SOURCE_CLASSES["hyperliquid"]().request(["SOL"])
    assert (spec.method, spec.path, json.loads(spec.content or b"")) == ("POST", "/info", {"type": "metaAndAssetCtxs"})


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("markPrice", "NaN", "not finite"),
        ("markPrice", "-1", "not positive"),
        ("markPrice", None, "missing"),
        ("markPrice", True, "missing"),
        ("fundingRate", "abc", "not a number"),
        ("fundingRate", "2", "not a plausible funding rate"),
        ("nextFundingTimestamp", "soon", "not an integer"),
        ("nextFundingTimestamp", 10**20, "out of range"),
    ],
)
def test_backpack_malformed_entry_fails_that_instrument_only(field, value, reason):
    payload = fixture_json("backpack_mark_prices_sol_constructed.json")
    payload[0][field] = value
    reading = parse("backpack", payload, ["SOL_USDC_PERP", "JUP_USDC_PERP"])
    assert "SOL_USDC_PERP" not in reading.observations and reason in reading.errors["SOL_USDC_PERP"]
    assert reading.observations["JUP_USDC_PERP"].mark == D("0.41990000")


@pytest.mark.parametrize(
    ("venue", "body", "reason"),
    [
        ("backpack", b"<html>", "not JSON"),
        ("backpack", {"symbol": 1}, "SOL_USDC_PERP is absent"),
        ("binance", b"[" * 100000, "nested too deep"),
        ("binance", "a string", "not a list"),
        ("hyperliquid", [{"universe": []}], "not a [meta, assetCtxs] pair"),
        ("hyperliquid", [{"universe": [{"name": "SOL"}]}, []], "1 coins but 0 asset contexts"),
        ("hyperliquid", [{"nouniverse": 1}, []], "no universe"),
    ],
)
def test_unusable_answers_fail_the_venue_or_the_instrument(venue, body, reason):
    ids = {"backpack": ["SOL_USDC_PERP"], "binance": ["SOLUSDT"], "hyperliquid": ["SOL"]}[venue]
    try:
        reading = parse(venue, body, ids)
    except SourceError as exc:
        assert reason in exc.message
    else:
        assert reason in next(iter(reading.errors.values()))


def test_a_hyperliquid_context_that_is_not_an_object_fails_its_coin():
    reading = parse("hyperliquid", [{"universe": [{"name": "SOL"}, {"name": "JUP"}]}, ["x", {"markPx": "1"}]],
                    ["SOL", "JUP"])  # fmt: skip
    assert "not an object" in reading.errors["SOL"] and reading.observations["JUP"].funding_rate is None


def test_rate_limits_raise_with_retry_after():
    with pytest.raises(SourceRateLimited) as caught:
        parse("binance", b"", ["SOLUSDT"], status=429, headers={"Retry-After": "7"})
    assert caught.value.retry_after == 7
    with pytest.raises(SourceError, match="HTTP 503"):
        parse("hyperliquid", b"down", ["SOL"], status=503)


def test_binance_funding_info_lists_the_symbols_with_their_own_interval():
    """The documented fundingInfo (BLZUSDT at 8 h); the constructed one: SOLUSDT at 4 h, JUPUSDT at
    8 h, an interval that does not divide the day and one given as text left out. A symbol listed
    at 4 h has its premiumIndex rate restated per 4 h, the others per 8 h."""
    source = PERP_SOURCE_CLASSES["binance"]()
    assert source.intervals_request().path == "/fapi/v1/fundingInfo"
    assert source.parse_intervals(status=200, body=fixture_bytes("binance_funding_info_docs.json")) == {"BLZUSDT": 8}
    intervals = source.parse_intervals(status=200, body=fixture_bytes("binance_funding_info_sol_constructed.json"))
    assert intervals == {"SOLUSDT": 4, "JUPUSDT": 8}
    for status, body in ((500, b"oops"), (200, b'{"code": -1000}'), (200, b"not json")):
        with pytest.raises(SourceError):
            source.parse_intervals(status=status, body=body)
    at_4h = PERP_SOURCE_CLASSES["binance"](intervals=intervals)
    reading = at_4h.parse(status=200, body=fixture_bytes("binance_premium_index_sol_constructed.json"),
                          headers={}, received_at=FROZEN_NOW, ids=["SOLUSDT", "JUPUSDT"])  # fmt: skip
    sol, jup = reading.observations["SOLUSDT"], reading.observations["JUPUSDT"]
    assert (sol.interval_hours, sol.rate_per(1)) == (4, D("0.000025"))  # 0.0001 per 4 h
    assert (jup.interval_hours, jup.rate_per(1)) == (8, D("-0.000025"))  # -0.0002 per 8 h
