"""``manage.py stream_prices``: in an offline price mode (or with PRICE_STREAMS off) it says why
on one line and idles, touching nothing; in live mode it streams and clears its heartbeat when it
stops."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command

from pricing.selectors import price_latest_record
from pricing.streams.health import HEARTBEAT_KEY
from tests.pricing.stream_env import stream_bench

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("mode", "streams", "said"), [("synthetic", True, "price mode synthetic"), ("live", False, "PRICE_STREAMS is off")]
)
def test_idles_with_one_line_in_an_offline_mode_or_when_off(settings, caplog, mode, streams, said):
    settings.PRICE_MODE = mode
    settings.PRICE_STREAMS = streams
    with caplog.at_level(logging.WARNING, logger="pricing.streams"):
        call_command("stream_prices", seconds=0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "pricing.streams"]
    assert len(lines) == 1 and "stream service idle" in lines[0] and said in lines[0]
    assert price_latest_record("SOL-USD") is None
    assert cache.get(HEARTBEAT_KEY) is None


def test_streams_in_live_mode_for_the_seconds_given(settings, price_server):
    with stream_bench(settings, price_server) as bench:
        bench.board.sol = Decimal("81.5")
        call_command("stream_prices", seconds=3)
    record = price_latest_record("SOL-USD")
    assert Decimal(record["price"]) == Decimal("81.5")
    assert cache.get(HEARTBEAT_KEY) is None
