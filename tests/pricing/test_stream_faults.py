"""The streams misbehave — a dropped connection, a silent stream, malformed frames, a refused
subscription — and the service reconnects, marks the source down with the reason, polls it
meanwhile (the local REST server's recorded payloads), and never stops the index while a quorum
remains."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from pricing.models import SourceHealth
from pricing.selectors import price_latest_record
from tests.pricing.conftest import PATHS, fresh_route
from tests.pricing.stream_env import running_service, stream_bench, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def health(name: str) -> dict:
    return cache.get(f"pricing:stream:health:{name}") or {}


def rest_hits(bench, source: str) -> int:
    if source == "pyth":
        return bench.sse.polls
    prefix = "/products/" if source == "coinbase" else PATHS[source].rsplit("/", 1)[0]
    return sum(1 for path, _, _ in bench.rest.hits if path.startswith(prefix))


FAULTS = [
    ("binance", "drop", "connection closed"),
    ("pyth", "drop", "the server ended the stream"),
    ("coinbase", "silent", "stale: no message for 1s"),
    ("pyth", "silent", "stale: no message for 1s"),
    ("kraken", "malformed", "3 malformed frames in a row"),
    ("pyth", "malformed", "3 malformed frames in a row"),
    ("backpack", "refuse", "subscription refused: Backpack"),
    ("binance", "refuse", "subscription refused: Binance"),
    ("coinbase", "refuse", "subscription refused: Coinbase: Failed to subscribe"),
    ("kraken", "refuse", "subscription refused: Kraken: 'Currency pair not supported"),
    ("pyth", "refuse", "subscription refused: HTTP 404: Price ids not found"),
]


@pytest.mark.parametrize(("source", "fault", "reason"), FAULTS, ids=[f"{s}-{f}" for s, f, _ in FAULTS])
def test_a_misbehaving_stream_is_marked_down_polled_meanwhile_and_reconnected(
    settings, price_server, source, fault, reason
):
    """The source's health turns down with the reason, its REST endpoint is polled (its price still
    counts in the index), SOL-USD keeps ticking; once the venue behaves again the stream is live."""
    with stream_bench(settings, price_server) as bench, running_service():
        wait_for(lambda: health(source).get("state") == "live", what=f"{source} live")
        server = bench.server(source)
        polled_before = rest_hits(bench, source)
        if fault == "drop":
            server.drop()
        else:
            server.mode = fault
            if fault == "refuse":
                server.drop()  # the next subscription is refused
        down = wait_for(
            lambda: (h := health(source)).get("reconnects") and reason in h["last_error"] and h, what=reason
        )
        assert down["reconnects"] >= 1
        if fault != "drop":
            wait_for(lambda: health(source).get("polling"), what=f"{source} polled")
            wait_for(lambda: rest_hits(bench, source) > polled_before, what=f"{source} REST polled")
            row = wait_for(lambda: SourceHealth.objects.filter(name=source, last_status="ok").first(), what="row")
            assert row.last_success_at is not None
            if fault == "malformed":
                seen = health(source)
                assert seen["bad_frames"] >= 3 and seen["last_bad_frame"]  # skipped frames: counted, not the failure
                assert reason in seen["last_error"]
        first = price_latest_record("SOL-USD")["computed_at"]
        wait_for(lambda: price_latest_record("SOL-USD")["computed_at"] != first, what="the index still ticking")
        server.mode = "normal"
        wait_for(lambda: health(source).get("state") == "live", what=f"{source} live again")
        assert health(source)["reconnects"] >= 1


def test_the_index_never_stops_while_a_quorum_remains(settings, price_server):
    """Every WebSocket venue refuses and every REST endpoint but Kraken's fails: Pyth's stream and
    Kraken's poll still make SOL-USD's quorum of 2, so its record never lapses and keeps moving;
    when Pyth's stream goes silent too, its REST fallback answers and the index goes on."""
    with stream_bench(settings, price_server) as bench, running_service():
        wait_for(lambda: price_latest_record("SOL-USD"), what="a first price")
        price_server.routes.clear()
        price_server.serve("kraken", fresh_route("kraken"))
        for name in ("backpack", "coinbase", "kraken", "binance"):
            bench.ws[name].mode = "refuse"
            bench.ws[name].drop()
        bench.board.sol = Decimal("79.10")
        seen: set[str] = set()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            record = price_latest_record("SOL-USD")
            assert record is not None, "the index lapsed"
            seen.add(record["computed_at"])
            time.sleep(0.05)
        assert len(seen) >= 3  # heartbeats at least once a second
        assert set(record["sources"]) == {"pyth", "kraken"}
        assert all(health(n)["state"] != "live" for n in ("backpack", "coinbase", "kraken", "binance"))
        bench.sse.mode = "silent"
        wait_for(lambda: "stale" in health("pyth").get("last_error", ""), what="pyth down")
        last = datetime.fromisoformat(price_latest_record("SOL-USD")["computed_at"].replace("Z", "+00:00"))
        record = wait_for(
            lambda: (
                (r := price_latest_record("SOL-USD"))
                and datetime.fromisoformat(r["computed_at"].replace("Z", "+00:00")) > last
                and r
            ),
            what="a tick from Pyth's REST fallback",
        )
        assert set(record["sources"]) == {"pyth", "kraken"}
        assert bench.sse.polls > 0


def test_without_a_quorum_the_record_lapses_and_the_503_says_why(settings, price_server, api_client):
    """Every WebSocket venue refuses, Pyth's stream goes silent and no REST endpoint answers: no
    source is left, the record expires with its TTL and the price endpoint answers 503 with the
    service's reason; the beat ingest still steps aside (the service runs)."""
    settings.PRICE_STALE_SECONDS = 2
    with stream_bench(settings, price_server) as bench, running_service():
        wait_for(lambda: price_latest_record("SOL-USD"), what="a first price")
        price_server.routes.clear()
        bench.sse.polls_answer = False
        for name in ("backpack", "coinbase", "kraken", "binance"):
            bench.ws[name].mode = "refuse"
            bench.ws[name].drop()
        bench.sse.mode = "refuse"
        bench.sse.drop()
        wait_for(lambda: price_latest_record("SOL-USD") is None, what="the record to lapse")
        response = wait_for(
            lambda: (
                (r := api_client.get("/api/v1/market/price?symbol=SOL-USD")).status_code == 503
                and "no price" in r.json()["extra"]["reason"]
                and r
            ),
            what="a 503 with the reason",
        )
        assert "required sources usable" in response.json()["extra"]["reason"]
