"""Price-feed faults on the real stack: malformed answers and two sources that disagree.

The sources are a local HTTP server answering the recorded payloads (``tests/pricing/fixtures``),
moved to the current time and then broken one way at a time. The ingest runs as the Celery task
``pricing.ingest`` (eagerly, in this process) against the test PostgreSQL and Redis; a real
daphne process serves the API from the same Redis record, as in production.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair

from tests.pricing.conftest import PATHS, RECORDED, SOURCE_URL_SETTINGS, PriceServer, fresh_route
from tests.pricing.malformed import CASES, Malformed
from tests.proof.stack import web_tier
from tests.trading.helpers import order_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TIMEOUT = 15  # seconds: a bounded guard against hangs, not a timing assertion


@pytest.fixture(scope="module")
def web(django_db_setup):
    """One web tier for the module, on the test database and Redis."""
    with web_tier() as server:
        yield server


@pytest.fixture
def feeds(settings):
    """A local HTTP server standing in for every source, each answering its recorded payload at
    the current time (tests then break some)."""
    server = PriceServer()
    server.thread.start()
    for name in SOURCE_URL_SETTINGS:
        setattr(settings, name, server.url)
    settings.PRICE_MODE = "live"
    settings.PRICE_SOURCES = list(PATHS)
    for source in RECORDED:
        server.serve(source, fresh_route(source))
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def run_ingest() -> str:
    from pricing.tasks import ingest

    return ingest.apply().get()


def sign_in(base: str) -> dict[str, str]:
    keypair = Keypair()
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        issued = client.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
        signature = str(keypair.sign_message(issued["message"].encode()))
        response = client.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_malformed_source_fails_alone_and_its_health_says_why(feeds, web, case: Malformed):
    """One source answers a malformed payload (out-of-range publish_time, a time without a UTC
    offset, a number that overflows, a value of the wrong type, JSON nested too deep, a price of
    10^30): the cycle still produces the index from the others, the API serves it, and that
    source's health and the last cycle name it with the reason."""
    feeds.serve(case.source, fresh_route(case.source, case.mutate))
    assert run_ingest() == "ok"

    price = httpx.get(f"{web.url}/api/v1/market/price", timeout=TIMEOUT)
    assert price.status_code == 200, price.text
    body = price.json()
    assert case.source not in body["sources"] and len(body["sources"]) >= 3
    assert Decimal("78") < Decimal(body["price"]) < Decimal("80")

    market = httpx.get(f"{web.url}/api/v1/market/sources", timeout=TIMEOUT).json()
    row = next(s for s in market["sources"] if s["name"] == case.source)
    # The source's own health is per source (it may price other tokens): the reason is in its
    # last error; SOL's index names the source's failure with its status.
    assert case.reason in row["last_error"], row
    cycle = market["last_cycle"]["sources"][case.source]
    assert cycle["status"] == case.status and case.reason in cycle["error"]
    healthy = [s["name"] for s in market["sources"] if s["status"] == "ok"]
    assert set(body["sources"]) <= set(healthy)


def test_every_source_but_two_malformed_still_prices(feeds, web):
    """Pyth, Coinbase and Kraken malformed at once and Jupiter an outlier: Backpack and Binance
    agree, so trading goes on with their index."""
    for case_id in ("pyth-publish-time-overflow", "coinbase-naive-time", "kraken-book-overflows"):
        case = next(c for c in CASES if c.id == case_id)
        feeds.serve(case.source, fresh_route(case.source, case.mutate))
    assert run_ingest() == "ok"
    body = httpx.get(f"{web.url}/api/v1/market/price", timeout=TIMEOUT).json()
    assert body["sources"] == ["backpack", "binance"]


def _mid(source: str, mid: str):
    def mutate(payload: dict) -> None:
        if source == "coinbase":
            payload["bid"] = payload["ask"] = payload["price"] = mid
        elif source == "kraken":
            entry = payload["result"]["SOLUSD"]
            entry["a"][0] = entry["b"][0] = entry["c"][0] = mid
        else:  # binance
            payload["bidPrice"] = payload["askPrice"] = mid

    return fresh_route(source, mutate)


def test_two_disagreeing_sources_pause_trading_with_a_clear_reason_until_a_third_decides(feeds, web):
    """Only Coinbase (100) and Kraken (103.9) answer: 3.8 % apart, above PRICE_OUTLIER_PCT (2 %),
    and two sources cannot say which is right. No index (not the 101.95 midpoint): the API and an
    order answer 503 price_unavailable with Retry-After and the reason "sources disagree", which
    the last cycle and both sources' health carry too. When Binance answers 100.2, the median
    outvotes Kraken and the same client_order_id fills."""
    for source in RECORDED:
        feeds.serve(source, lambda: (500, {}, b"down"))
    feeds.serve("coinbase", _mid("coinbase", "100"))
    feeds.serve("kraken", _mid("kraken", "103.9"))
    assert "SOL-USD: no price: sources disagree" in run_ingest()
    reason = httpx.get(f"{web.url}/api/v1/market/sources", timeout=TIMEOUT).json()["last_cycle"]["reason"]
    assert reason.startswith("no price: sources disagree: coinbase 100, kraken 103.9 are 3.8254% apart")

    price = httpx.get(f"{web.url}/api/v1/market/price", timeout=TIMEOUT)
    assert price.status_code == 503 and price.headers["Retry-After"] == "2"
    assert price.json()["code"] == "price_unavailable" and price.json()["extra"]["reason"] == reason
    headers = sign_in(web.url)
    order = httpx.post(
        f"{web.url}/api/v1/orders", json=order_body(client_order_id="disagree-1"), headers=headers, timeout=TIMEOUT
    )
    assert order.status_code == 503 and order.json()["code"] == "price_unavailable", order.text
    assert order.json()["extra"]["reason"] == reason
    market = httpx.get(f"{web.url}/api/v1/market/sources", timeout=TIMEOUT).json()
    assert market["last_cycle"]["ok"] is False and market["last_cycle"]["reason"] == reason
    for name in ("coinbase", "kraken"):
        row = next(s for s in market["sources"] if s["name"] == name)
        assert "sources disagree" in row["last_error"]
        assert market["last_cycle"]["sources"][name]["status"] == "rejected"

    feeds.serve("binance", _mid("binance", "100.2"))
    assert run_ingest() == "ok"
    body = httpx.get(f"{web.url}/api/v1/market/price", timeout=TIMEOUT).json()
    assert body["sources"] == ["coinbase", "binance"] and body["price"] == "100.10000000"
    order = httpx.post(
        f"{web.url}/api/v1/orders", json=order_body(client_order_id="disagree-1"), headers=headers, timeout=TIMEOUT
    )
    assert order.status_code == 201, order.text
