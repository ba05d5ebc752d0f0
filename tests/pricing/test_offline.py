"""Offline price modes: replay of the shared SOLUSDT_1h.csv tape, and a seeded synthetic walk."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from pricing.offline import Tape, TapeError, load_ohlc_csv, synthetic_next
from pricing.selectors import price_get_latest
from pricing.services import price_ingest_run
from pricing.services.offline_feed import REPLAY_ORIGIN_KEY
from tests.conftest import SHARED
from tests.pricing.conftest import FROZEN_NOW

CSV = SHARED / "data" / "SOLUSDT_1h.csv"
pytestmark = pytest.mark.django_db

requires_tape = pytest.mark.skipif(not CSV.exists(), reason="../shared/data/SOLUSDT_1h.csv is not beside the repo")


@requires_tape
def test_replay_of_the_shared_csv_drives_the_index(settings, api_client):
    """PRICE_MODE=replay plays SOLUSDT_1h.csv at 60x: one wall minute later the tape is one hour on."""
    settings.PRICE_MODE = "replay"
    settings.PRICE_REPLAY_CSV = str(CSV)
    settings.PRICE_REPLAY_SPEED = Decimal("60")
    settings.PRICE_REPLAY_START = 0
    bars = load_ohlc_csv(CSV)

    first = price_ingest_run(now=FROZEN_NOW).indexes["SOL-USD"]
    assert first.ok and first.quote.price == bars[0].open  # 2.85 at the start of the tape
    assert first.quote.mode == "replay" and first.quote.sources == ("replay:SOLUSDT_1h.csv",)

    later = price_ingest_run(now=FROZEN_NOW + timedelta(minutes=1)).indexes["SOL-USD"]
    assert later.quote.price == bars[1].open  # 2.9515: the next hourly bar

    # a third of the way into bar 1 (a down bar: open -> high -> low -> close) the price is its high
    third = price_ingest_run(now=FROZEN_NOW + timedelta(minutes=1, seconds=20)).indexes["SOL-USD"]
    assert third.quote.price == bars[1].high

    # on the real clock (a fresh replay origin), the API serves the replayed price, marked as not live
    cache.delete(REPLAY_ORIGIN_KEY)
    assert price_ingest_run().indexes["SOL-USD"].quote.price == bars[0].open
    body = api_client.get("/api/v1/market/price").json()
    assert body["mode"] == "replay" and body["price"] == "2.85000000"
    assert body["sources"] == ["replay:SOLUSDT_1h.csv"]
    assert Decimal(body["bid"]) < Decimal(body["price"]) < Decimal(body["ask"])


@requires_tape
def test_replay_tape_covers_the_whole_csv_and_wraps_around():
    bars = load_ohlc_csv(CSV)
    tape = Tape(bars)
    assert len(bars) > 48_000 and tape.step == 3600
    assert tape.price_at(Decimal(bars[-1].time)) == bars[-1].open
    assert tape.price_at(Decimal(tape.end)) == bars[0].open, "after the last bar the tape starts again"
    assert tape.price_at(Decimal(bars[500].time + 3599)) == pytest.approx(bars[500].close, abs=Decimal("0.01"))


def test_a_bad_tape_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open,high,low,close\n1,10,9,8,9\n2,9,10,8,9\n")
    with pytest.raises(TapeError, match="inconsistent"):
        load_ohlc_csv(bad)


def test_a_missing_tape_is_a_clear_ingest_failure(settings, tmp_path):
    settings.PRICE_MODE = "replay"
    settings.PRICE_REPLAY_CSV = str(tmp_path / "nope.csv")
    report = price_ingest_run(now=FROZEN_NOW)
    assert not report.indexes["SOL-USD"].ok and "replay source failed" in report.indexes["SOL-USD"].reason
    assert report.indexes["BONK-USD"].ok, "the other tokens walk on"


def test_synthetic_walk_is_seeded_and_reproducible(settings):
    """The same seed gives the same path; every tick is marked synthetic. PRICE_SYNTHETIC_* set
    explicitly drive SOL-USD's walk (its registry row otherwise)."""
    settings.PRICE_MODE = "synthetic"
    settings.PRICE_SYNTHETIC_SEED = "demo"
    settings.PRICE_SYNTHETIC_START = Decimal("150")
    settings.PRICE_SYNTHETIC_VOLATILITY = Decimal("0.0005")
    runs = [price_ingest_run(now=FROZEN_NOW + timedelta(seconds=2 * i)) for i in range(5)]
    path = [run.indexes["SOL-USD"].quote.price for run in runs]
    expected, price = [], Decimal("150")
    for step in range(1, 6):
        price = synthetic_next(price=price, step=step, seed="demo", volatility=settings.PRICE_SYNTHETIC_VOLATILITY)
        expected.append(price)
    assert path == expected and len(set(path)) > 1
    assert all(abs(b - a) / a <= settings.PRICE_SYNTHETIC_VOLATILITY for a, b in zip(path, path[1:], strict=False))
    quote = price_get_latest(now=FROZEN_NOW + timedelta(seconds=8))
    assert quote.mode == "synthetic" and quote.sources == ("synthetic:seed=demo",)


def test_synthetic_walk_differs_by_seed():
    a = [synthetic_next(price=Decimal(100), step=i, seed="a", volatility=Decimal("0.01")) for i in range(1, 4)]
    b = [synthetic_next(price=Decimal(100), step=i, seed="b", volatility=Decimal("0.01")) for i in range(1, 4)]
    assert a != b
