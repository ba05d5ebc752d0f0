"""Each source answers many instruments per request (in its recorded payloads' real formats):
every id gets its observation or its own error, and an id the venue does not know fails alone.
HTTP is stood in by ``httpx.MockTransport``; the request each source sends is checked too."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import httpx
import pytest

from pricing.fetch import fetch_all
from pricing.sources import SOURCE_CLASSES
from pricing.sources.kraken import altname
from pricing.sources.pyth import SOL_USD_FEED
from tests.pricing.conftest import FROZEN_NOW, fixture_json

BTC_FEED = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"
JUP_MINT = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
SOL_MINT = "So11111111111111111111111111111111111111112"
UNKNOWN_FEED = "00" * 32


def adapter(name: str):
    return SOURCE_CLASSES[name](base_url="http://venue")


def fetch(name: str, ids: list[str], handler) -> tuple:
    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    with httpx.Client(transport=httpx.MockTransport(recording)) as client:
        (result,) = fetch_all([adapter(name)], ids={name: ids}, client=client, now=FROZEN_NOW)
    return result, requests


def test_pyth_many_feeds_in_one_request_and_a_feed_it_left_out():
    """The documented BTC answer plus the SOL entry: both feeds priced from one request (asked
    with ids[] each, the stablecoin feeds riding along); a feed absent from ``parsed`` is its error."""
    docs = fixture_json("pyth_hermes_v2_latest_btc_docs.json")
    sol = fixture_json("pyth_hermes_v2_latest_sol_constructed.json")["parsed"][0]
    missing = "ab" * 32
    body = {**docs, "parsed": [*docs["parsed"], sol]}
    result, requests = fetch("pyth", [BTC_FEED, SOL_USD_FEED, missing], lambda r: httpx.Response(200, json=body))
    assert len(requests) == 1
    asked = [v for k, v in requests[0].url.params.multi_items() if k == "ids[]"]
    assert asked[:3] == [BTC_FEED, SOL_USD_FEED, missing] and len(asked) == 5
    observations = result.reading.observations
    assert observations[BTC_FEED].price == Decimal("61409.93501000")
    assert observations[SOL_USD_FEED].price == Decimal("79.08123456")
    assert "absent" in result.reading.errors[missing] and result.status == "ok"


def test_pyth_unknown_id_404_is_asked_again_one_feed_per_request():
    """Hermes refuses the whole request for one unknown id (plain-text 404): asked again one feed
    per request, only the unknown feed fails."""
    sol = fixture_json("pyth_hermes_v2_latest_sol_constructed.json")

    def hermes(request):
        asked = request.url.params.get_list("ids[]")
        if UNKNOWN_FEED in asked:
            return httpx.Response(404, text=f"Price ids not found: {UNKNOWN_FEED}")
        return httpx.Response(200, json=sol)

    result, requests = fetch("pyth", [SOL_USD_FEED, UNKNOWN_FEED], hermes)
    assert len(requests) == 3
    assert result.reading.observations[SOL_USD_FEED].price == Decimal("79.08123456")
    assert "Price ids not found" in result.reading.errors[UNKNOWN_FEED]


def test_jupiter_comma_separated_mints_and_an_omitted_one():
    """The documented v3 answer holds JUP and SOL (the real multi-id example); a mint without a
    reliable price is omitted, so it alone gets an error."""
    body = fixture_json("jupiter_price_v3_docs.json")
    unknown = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
    result, requests = fetch("jupiter", [JUP_MINT, SOL_MINT, unknown], lambda r: httpx.Response(200, json=body))
    assert requests[0].url.params["ids"] == f"{JUP_MINT},{SOL_MINT},{unknown}"
    assert result.reading.observations[JUP_MINT].price == Decimal("0.4056018512541055")
    assert result.reading.observations[SOL_MINT].price == Decimal("147.4789340738336")
    assert "no reliable price" in result.reading.errors[unknown]


def test_binance_symbols_json_array_answers_a_list_and_an_invalid_symbol_is_split_out():
    """``symbols=["SOLUSDT","LTCBTC"]`` answers a list of book tickers (the documented shape); a
    list holding an unknown symbol is refused whole (-1121), so it is asked again one by one."""
    sol = fixture_json("binance_ticker_bookticker_solusdt_constructed.json")
    ltc = fixture_json("binance_ticker_bookticker_docs.json")
    error = fixture_json("binance_error_invalid_symbol_docs.json")
    book = {"SOLUSDT": sol, "LTCBTC": ltc}

    def venue(request):
        if "symbols" in request.url.params:
            asked = json.loads(request.url.params["symbols"])
            if any(s not in book for s in asked):
                return httpx.Response(400, json=error)
            return httpx.Response(200, json=[book[s] for s in asked])
        symbol = request.url.params["symbol"]
        return httpx.Response(200, json=book[symbol]) if symbol in book else httpx.Response(400, json=error)

    result, requests = fetch("binance", ["SOLUSDT", "LTCBTC"], venue)
    assert len(requests) == 1 and requests[0].url.params["symbols"] == '["SOLUSDT","LTCBTC"]'
    assert result.reading.observations["SOLUSDT"].price == Decimal("79.08500000")
    assert result.reading.observations["LTCBTC"].bid == Decimal("4.00000000")

    result, requests = fetch("binance", ["SOLUSDT", "NOPEUSDT"], venue)
    assert len(requests) == 3
    assert result.reading.observations["SOLUSDT"].price == Decimal("79.08500000")
    assert "-1121" in result.reading.errors["NOPEUSDT"]


def test_kraken_many_pairs_keyed_in_krakens_own_names():
    """``pair=SOLUSD,XBTUSD``: the result keys SOL as ``SOLUSD`` and XBT as ``XXBTZUSD`` (the api-specs
    example's key); both map back to the pair asked. An unknown pair fails the request whole
    (HTTP 200 with ``EQuery:Unknown asset pair``) and is split out."""
    sol = fixture_json("kraken_ticker_solusd_constructed.json")
    xbt = fixture_json("kraken_ticker_xbtusd_apispecs_example.json")
    entries = {"SOLUSD": sol["result"]["SOLUSD"], "XBTUSD": xbt["result"]["XXBTZUSD"]}
    names = {"SOLUSD": "SOLUSD", "XBTUSD": "XXBTZUSD"}
    unknown = fixture_json("kraken_ticker_unknown_pair_error.json")

    def venue(request):
        asked = request.url.params["pair"].split(",")
        if any(p not in entries for p in asked):
            return httpx.Response(200, json=unknown)
        return httpx.Response(200, json={"error": [], "result": {names[p]: entries[p] for p in asked}})

    result, requests = fetch("kraken", ["SOLUSD", "XBTUSD"], venue)
    assert len(requests) == 1 and requests[0].url.params["pair"] == "SOLUSD,XBTUSD"
    assert result.reading.observations["SOLUSD"].price == Decimal("79.09500")
    assert result.reading.observations["XBTUSD"].ask == Decimal("3537.50000")
    assert altname("XXBTZUSD") == "XBTUSD" and altname("BONKUSD") == "BONKUSD"

    result, requests = fetch("kraken", ["SOLUSD", "NOPEUSD"], venue)
    assert len(requests) == 3 and "SOLUSD" in result.reading.observations
    assert "Unknown asset pair" in result.reading.errors["NOPEUSD"]


def test_backpack_all_tickers_in_one_request():
    """Several symbols: one ``GET /api/v1/tickers`` (a list of the captured ticker objects); a
    symbol the list lacks is its error."""
    aave = fixture_json("backpack_rest_ticker_aave_usdc_ccxt_capture.json")
    sol = fixture_json("backpack_rest_ticker_sol_usdc_constructed.json")
    result, requests = fetch(
        "backpack", ["SOL_USDC", "AAVE_USDC", "RAY_USDC"], lambda r: httpx.Response(200, json=[aave, sol])
    )
    assert [r.url.path for r in requests] == ["/api/v1/tickers"]
    assert result.reading.observations["AAVE_USDC"].price == Decimal("317.14")
    assert result.reading.observations["SOL_USDC"].quote == "USDC"
    assert "absent" in result.reading.errors["RAY_USDC"]


def test_coinbase_one_product_per_request_concurrently_and_an_unknown_product_fails_alone():
    """One ``/products/<id>/ticker`` per product; ``NotFound`` is that product's error only."""
    sol = fixture_json("coinbase_exchange_product_ticker_sol_usd_constructed.json")
    btc = fixture_json("coinbase_exchange_product_ticker_docs.json")
    products = {"SOL-USD": sol, "BTC-USD": btc}

    def venue(request):
        product = request.url.path.split("/")[2]
        if product in products:
            return httpx.Response(200, json=products[product])
        return httpx.Response(404, json={"message": "NotFound"})

    result, requests = fetch("coinbase", ["SOL-USD", "BTC-USD", "NOPE-USD"], venue)
    assert sorted(r.url.path for r in requests) == [
        "/products/BTC-USD/ticker", "/products/NOPE-USD/ticker", "/products/SOL-USD/ticker",
    ]  # fmt: skip
    assert result.status == "ok" and result.requests == 3
    assert result.reading.observations["SOL-USD"].price == Decimal("79.095")
    assert result.reading.observations["BTC-USD"].bid == Decimal("6265.15")
    assert "NotFound" in result.reading.errors["NOPE-USD"]


@pytest.mark.parametrize("name", sorted(set(SOURCE_CLASSES) - {"coinbase"}))
def test_a_broken_entry_fails_its_instrument_only(name):
    """One instrument's entry with a price that is not a number: that id's error, the other priced.
    (Coinbase answers one product per request: a broken answer is that product's request alone.)"""
    sol_ids = {
        "pyth": SOL_USD_FEED,
        "jupiter": SOL_MINT,
        "backpack": "SOL_USDC",
        "kraken": "SOLUSD",
        "binance": "SOLUSDT",
    }
    other = {"pyth": BTC_FEED, "jupiter": JUP_MINT, "backpack": "AAVE_USDC", "kraken": "XBTUSD", "binance": "LTCBTC"}[
        name
    ]
    bodies = {
        "pyth": lambda: {"parsed": [fixture_json("pyth_hermes_v2_latest_sol_constructed.json")["parsed"][0],
                                    fixture_json("pyth_hermes_v2_latest_btc_docs.json")["parsed"][0]]},
        "jupiter": lambda: fixture_json("jupiter_price_v3_docs.json"),
        "backpack": lambda: [fixture_json("backpack_rest_ticker_sol_usdc_constructed.json"),
                             fixture_json("backpack_rest_ticker_aave_usdc_ccxt_capture.json")],
        "kraken": lambda: {"error": [], "result": {
            "SOLUSD": fixture_json("kraken_ticker_solusd_constructed.json")["result"]["SOLUSD"],
            "XXBTZUSD": fixture_json("kraken_ticker_xbtusd_apispecs_example.json")["result"]["XXBTZUSD"],
        }},
        "binance": lambda: [fixture_json("binance_ticker_bookticker_solusdt_constructed.json"),
                            fixture_json("binance_ticker_bookticker_docs.json")],
    }  # fmt: skip
    body = copy.deepcopy(bodies[name]())
    breakers = {
        "pyth": lambda b: b["parsed"][1]["price"].__setitem__("price", {"x": 1}),
        "jupiter": lambda b: b[JUP_MINT].__setitem__("usdPrice", [1]),
        "backpack": lambda b: b[1].__setitem__("lastPrice", "lots"),
        "kraken": lambda b: b["result"]["XXBTZUSD"].__setitem__("a", "x"),
        "binance": lambda b: b[1].__setitem__("bidPrice", None),
    }
    breakers[name](body)
    result, _ = fetch(name, [sol_ids[name], other], lambda r: httpx.Response(200, json=body))
    assert sol_ids[name] in result.reading.observations and result.status == "ok"
    assert other in result.reading.errors and other not in result.reading.observations
