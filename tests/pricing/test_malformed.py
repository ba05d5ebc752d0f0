"""A source's malformed answer fails that source only, with a reason; the cycle goes on."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import httpx
import pytest

from pricing.fetch import fetch_all
from pricing.models import SourceHealth
from pricing.selectors import price_ingest_last
from pricing.services import price_ingest_run
from pricing.sources import SOURCE_CLASSES, PriceSource, Reading, SourceError
from pricing.sources.base import parse_retry_after
from pricing.sources.kraken import KrakenTicker
from tests.pricing.conftest import FROZEN_NOW, RECORDED, SOL_IDS, fixture_json, json_route, mutated_route
from tests.pricing.malformed import CASES, Malformed

NOW = FROZEN_NOW


def _body(case: Malformed) -> bytes:
    payload = fixture_json(RECORDED[case.source])
    raw = case.mutate(payload)
    return raw if isinstance(raw, bytes) else json.dumps(payload).encode()


@pytest.mark.parametrize("case", [c for c in CASES if c.status == "error"], ids=lambda c: c.id)
def test_a_malformed_answer_is_a_source_error_never_another_exception(case):
    """Out-of-range or offset-less timestamps, overflowing numbers, wrong types and JSON nested
    too deep all become a reason (never OverflowError, TypeError, RecursionError …): SOL's error
    when its entry is broken, a SourceError when the whole answer is."""
    adapter = SOURCE_CLASSES[case.source](base_url="http://x")
    ids = [SOL_IDS[case.source]]
    try:
        reading = adapter.parse(
            status=200, body=_body(case), headers={"content-type": "application/json"}, received_at=NOW, ids=ids
        )
    except SourceError as exc:
        message = exc.message
    else:
        assert not reading.observations
        message = reading.errors[ids[0]]
    assert case.reason in message


@pytest.mark.parametrize("raw", ["9" * 5000, "²", "1" + "0" * 4400])
def test_a_garbled_retry_after_is_ignored(raw):
    """A Retry-After of thousands of digits or a non-ASCII digit is treated as absent (default cooldown)."""
    assert parse_retry_after({"Retry-After": raw}, NOW) is None


class _BuggyAdapter(PriceSource):
    """An adapter whose parser has a bug (raises something that is not a SourceError)."""

    name = "kraken"

    def request(self, ids):
        return KrakenTicker().request(ids)

    def parse_body(self, payload, *, received_at: datetime, ids) -> Reading:
        raise ZeroDivisionError("division by zero")


def test_an_unexpected_exception_in_one_adapter_becomes_that_sources_error(recorded_server):
    """fetch_all never raises: a parser bug in one adapter is that source's error result; the others answer."""
    buggy = _BuggyAdapter(base_url=recorded_server.url)
    coinbase = SOURCE_CLASSES["coinbase"](base_url=recorded_server.url)
    with httpx.Client(timeout=5) as client:
        results = fetch_all(
            [buggy, coinbase], ids={"kraken": ["SOLUSD"], "coinbase": ["SOL-USD"]}, client=client, now=NOW
        )
    assert results[0].status == "error" and results[0].reading is None
    assert "ZeroDivisionError" in results[0].error
    assert results[1].status == "ok" and results[1].reading.observations["SOL-USD"].price == Decimal("79.095")


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_malformed_source_fails_alone_and_the_others_make_the_index(recorded_server, case):
    """With one source answering a malformed payload (SOL's entry broken, or the whole answer), the
    cycle still produces every index from the others; the last cycle's summary for SOL-USD says
    why that source was not used, and so does its health (status ``ok`` when its other tokens'
    prices were used, the per-index problem in its message)."""
    recorded_server.serve(case.source, mutated_route(case.source, case.mutate))
    report = price_ingest_run(now=NOW)
    assert report.ok, report.reason
    quote = report.indexes["SOL-USD"].quote
    assert case.source not in quote.sources
    assert len(quote.sources) >= 3
    summary = price_ingest_last()["indexes"]["SOL-USD"]["sources"][case.source]
    assert summary["status"] == case.status and case.reason in summary["error"]
    health = SourceHealth.objects.get(name=case.source)
    whole = price_ingest_last()["sources"][case.source]
    assert health.last_status == whole["status"] and whole["status"] in ("ok", "rejected", case.status)
    assert case.reason in health.last_error


@pytest.mark.django_db
def test_every_malformed_kind_at_once_still_leaves_an_index(recorded_server):
    """Four sources malformed in one cycle (pyth, coinbase, kraken, jupiter): backpack and binance
    still agree, so the index is theirs."""
    for case_id in ("pyth-publish-time-overflow", "coinbase-naive-time", "kraken-error-is-a-number"):
        case = next(c for c in CASES if c.id == case_id)
        recorded_server.serve(case.source, mutated_route(case.source, case.mutate))
    recorded_server.serve("jupiter", json_route("jupiter_price_v3_unknown_mint_constructed.json"))
    report = price_ingest_run(now=NOW)
    assert report.indexes["SOL-USD"].ok, report.reason
    assert report.indexes["SOL-USD"].quote.sources == ("backpack", "binance")
    statuses = {name: s["status"] for name, s in price_ingest_last()["indexes"]["SOL-USD"]["sources"].items()}
    assert statuses == {
        "pyth": "error",
        "jupiter": "error",
        "backpack": "ok",
        "coinbase": "error",
        "kraken": "error",
        "binance": "ok",
    }
    health = dict(SourceHealth.objects.values_list("name", "last_status"))
    assert health["kraken"] == "error", "its whole answer was unusable"
    assert health["pyth"] == "ok", "its other feeds were used; SOL's problem is in its message"
