"""Source adapters parse each provider's documented payloads (and error shapes) into Decimals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pricing.aggregate import Limits, sanity_problem
from pricing.sources import SOURCE_CLASSES, SourceError, SourceRateLimited
from pricing.sources.base import parse_retry_after
from pricing.sources.pyth import SOL_USD_FEED, scaled
from tests.pricing.conftest import FROZEN_NOW, SOL_IDS, fixture_bytes, fixture_json

NOW = FROZEN_NOW
JSON = {"content-type": "application/json"}


def parse(
    source: str, name: str | None = None, *, status: int = 200, body: bytes | None = None, headers=None, ids=None
):
    """The adapter's reading of a response to a request for ``ids`` (default: SOL's id there)."""
    adapter = SOURCE_CLASSES[source](base_url="http://x")
    return adapter.parse(
        status=status, body=body if body is not None else fixture_bytes(name), headers=headers or JSON, received_at=NOW,
        ids=ids or [SOL_IDS[source]],
    )  # fmt: skip


def sol(reading):
    """SOL's observation in a reading (a per-instrument error surfaces as SourceError, as before)."""
    (instrument,) = [*reading.observations, *reading.errors]
    if instrument in reading.errors:
        raise SourceError(reading.errors[instrument])
    return reading.observations[instrument]


# --- Pyth Hermes ----------------------------------------------------------------------------------


def test_pyth_scales_integer_strings_by_expo_and_reads_publish_time():
    """price/conf are integer strings times 10**expo; publish_time is unix seconds."""
    reading = parse("pyth", "pyth_hermes_v2_latest_sol_constructed.json")
    obs = sol(reading)
    assert obs.price == Decimal("79.08123456") and isinstance(obs.price, Decimal)
    assert obs.conf == Decimal("0.04267754")
    assert obs.ema_price == Decimal("79.15000000")
    assert obs.source_time == datetime(2026, 2, 5, 23, 59, 50, tzinfo=timezone.utc)
    assert obs.quote == "USD" and obs.bid is None
    assert reading.stable_rates == {}


def test_pyth_docs_btc_payload_scales_exactly():
    """The documented BTC example (price 6140993501000 at expo -8) scales to 61409.93501 without float error."""
    payload = fixture_json("pyth_hermes_v2_latest_btc_docs.json")
    btc = payload["parsed"][0]
    assert scaled(btc["price"], "price") == Decimal("61409.93501000")


def test_pyth_response_without_the_sol_feed_is_an_error():
    """A Hermes answer that lacks the SOL/USD feed (the BTC docs example): SOL's error, per instrument."""
    with pytest.raises(SourceError, match="absent from the Hermes response"):
        sol(parse("pyth", "pyth_hermes_v2_latest_btc_docs.json"))


def test_pyth_unknown_id_is_a_plain_text_404():
    """Hermes answers unknown ids with a plain-text 404 'Price ids not found: …'."""
    shape = fixture_json("pyth_hermes_v2_error_404_unknown_id_constructed.json")
    with pytest.raises(SourceError, match="Price ids not found") as info:
        parse("pyth", status=shape["http_status"], body=shape["body"].encode(), headers={"content-type": "text/plain"})
    assert info.value.http_status == 404 and info.value.unknown_id, "fetch asks again one feed per request"


def test_pyth_reads_the_stablecoin_feeds_riding_along():
    """USDC/USD and USDT/USD in the same answer become stablecoin rates."""
    reading = parse("pyth", "pyth_hermes_v2_latest_sol_usdc_usdt_constructed.json")
    assert reading.stable_rates == {"USDC": Decimal("0.99995000"), "USDT": Decimal("0.99300000")}


def test_pyth_request_asks_for_sol_and_stables_and_sends_a_bearer_key_when_configured():
    """The SOL/USD feed id is requested with parsed=true; a key goes in a Bearer header."""
    spec = SOURCE_CLASSES["pyth"](base_url="http://x", api_key="k123").request([SOL_USD_FEED])
    assert ("ids[]", SOL_USD_FEED) in spec.params and ("parsed", "true") in spec.params
    assert spec.headers == {"Authorization": "Bearer k123"}
    assert SOURCE_CLASSES["pyth"](base_url="http://x").request([SOL_USD_FEED]).headers == {}


def test_pyth_wide_confidence_and_ema_gap_are_rejected_by_sanity():
    """conf ≈ 2 % of price is above the 1 % limit; with a looser conf limit the 3 % EMA gap still trips."""
    obs = sol(parse("pyth", "pyth_hermes_v2_latest_sol_wide_conf_constructed.json"))
    assert "confidence" in sanity_problem(obs, limits=Limits(), now=NOW)
    assert "EMA" in sanity_problem(obs, limits=Limits(max_conf_ratio=Decimal("0.05")), now=NOW)


def test_pyth_stale_publish_time_is_rejected_with_a_frozen_clock():
    """A publish_time 1000 s before the (frozen) clock is stale; the fresh one is sane."""
    stale = sol(parse("pyth", "pyth_hermes_v2_latest_sol_stale_constructed.json"))
    fresh = sol(parse("pyth", "pyth_hermes_v2_latest_sol_constructed.json"))
    assert "old" in sanity_problem(stale, limits=Limits(), now=NOW)
    assert sanity_problem(fresh, limits=Limits(), now=NOW) is None
    assert "future" in sanity_problem(fresh, limits=Limits(), now=NOW - timedelta(seconds=30))


# --- Jupiter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("jupiter_price_v3_docs.json", "147.4789340738336"), ("jupiter_price_v3_openapi_example.json", "147.48")],
)
def test_jupiter_usd_price_number_is_parsed_as_an_exact_decimal(name, expected):
    """usdPrice is a JSON number; it becomes the same digits as a Decimal, never a float."""
    obs = sol(parse("jupiter", name))
    assert obs.price == Decimal(expected) and str(obs.price) == expected


@pytest.mark.parametrize("body", [b"{}", b'{"So11111111111111111111111111111111111111112": null}'])
def test_jupiter_absent_or_null_mint_means_no_reliable_price(body):
    """A mint without a reliable price is absent (or null): that mint's error, not a zero."""
    with pytest.raises(SourceError, match="no reliable price"):
        sol(parse("jupiter", body=body))


def test_jupiter_sends_the_api_key_header_when_configured():
    spec = SOURCE_CLASSES["jupiter"](base_url="http://x", api_key="jk").request([SOL_IDS["jupiter"]])
    assert spec.headers == {"x-api-key": "jk"}
    assert spec.params == [("ids", "So11111111111111111111111111111111111111112")]


# --- Backpack -----------------------------------------------------------------------------------


def test_backpack_ticker_uses_last_price_in_usdc():
    """All strings, no timestamp, no book: lastPrice quoted in USDC."""
    obs = sol(parse("backpack", "backpack_rest_ticker_sol_usdc_constructed.json"))
    assert obs.price == Decimal("79.07") and obs.quote == "USDC" and obs.source_time is None


def test_backpack_answer_for_another_market_is_refused():
    """The captured AAVE_USDC ticker is not SOL_USDC."""
    with pytest.raises(SourceError, match="AAVE_USDC"):
        parse("backpack", "backpack_rest_ticker_aave_usdc_ccxt_capture.json")


# --- Coinbase -----------------------------------------------------------------------------------


def test_coinbase_ticker_uses_the_mid_and_keeps_the_trade_time():
    obs = sol(parse("coinbase", "coinbase_exchange_product_ticker_sol_usd_constructed.json"))
    assert (obs.bid, obs.ask, obs.price) == (Decimal("79.09"), Decimal("79.10"), Decimal("79.095"))
    assert obs.source_time == datetime(2026, 2, 5, 23, 59, 50, 123456, tzinfo=timezone.utc)


def test_coinbase_docs_example_parses():
    obs = sol(parse("coinbase", "coinbase_exchange_product_ticker_docs.json", ids=["BTC-USD"]))
    assert obs.bid == Decimal("6265.15") and obs.ask == Decimal("6267.71")


def test_coinbase_error_message_is_reported():
    with pytest.raises(SourceError, match="NotFound"):
        parse("coinbase", status=404, body=b'{"message":"NotFound"}')


# --- Kraken -------------------------------------------------------------------------------------


def test_kraken_takes_the_single_result_entry():
    """a/b/c arrays start with ask, bid, last; the pair key is whatever Kraken calls it."""
    obs = sol(parse("kraken", "kraken_ticker_solusd_constructed.json"))
    assert (obs.bid, obs.ask, obs.price) == (Decimal("79.09000"), Decimal("79.10000"), Decimal("79.09500"))
    docs = sol(parse("kraken", "kraken_ticker_xbtusd_apispecs_example.json", ids=["XBTUSD"]))
    assert docs.ask == Decimal("3537.50000") and docs.bid == Decimal("3537.40000")


def test_kraken_errors_arrive_with_http_200():
    with pytest.raises(SourceError, match="EQuery:Unknown asset pair"):
        parse("kraken", "kraken_ticker_unknown_pair_error.json")


# --- Binance ------------------------------------------------------------------------------------


def test_binance_book_ticker_is_a_usdt_mid():
    obs = sol(parse("binance", "binance_ticker_bookticker_solusdt_constructed.json"))
    assert (obs.bid, obs.ask, obs.price, obs.quote) == (
        Decimal("79.08000000"),
        Decimal("79.09000000"),
        Decimal("79.08500000"),
        "USDT",
    )


def test_binance_other_symbol_and_error_code_are_refused():
    with pytest.raises(SourceError, match="LTCBTC"):
        parse("binance", "binance_ticker_bookticker_docs.json")
    with pytest.raises(SourceError, match="-1121: Invalid symbol"):
        parse("binance", "binance_error_invalid_symbol_docs.json", status=400)


# --- common error shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCE_CLASSES))
@pytest.mark.parametrize("status", [429, 418])
def test_rate_limits_raise_with_retry_after(source, status):
    """429 (and Binance's 418 ban) become SourceRateLimited carrying Retry-After seconds."""
    with pytest.raises(SourceRateLimited) as info:
        parse(source, status=status, body=b"slow down", headers={"Retry-After": "42"})
    assert info.value.retry_after == 42 and info.value.http_status == status


def test_retry_after_as_http_date_and_garbage():
    later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after({"Retry-After": later}, NOW) == 90
    assert parse_retry_after({"retry-after": "soon"}, NOW) is None
    assert parse_retry_after({}, NOW) is None


@pytest.mark.parametrize("source", sorted(SOURCE_CLASSES))
def test_server_errors_and_non_json_are_source_errors(source):
    with pytest.raises(SourceError):
        parse(source, status=502, body=b"<html>Bad gateway</html>")
    with pytest.raises(SourceError):
        parse(source, status=200, body=b"<html>captive portal</html>")
