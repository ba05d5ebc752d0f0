"""1-minute candles: folding ticks, rolling up on read, the candles API, retention, admin."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from pricing.candle_math import Bucket, roll_up
from pricing.models import Candle, SourceHealth
from pricing.services import candle_prune, candle_record_tick

T0 = datetime(2026, 2, 6, 0, 0, tzinfo=timezone.utc)
D = Decimal


def tick(price: str, at: datetime, sources: int = 3, mode: str = "live") -> None:
    candle_record_tick(price=D(price), sources=sources, at=at, mode=mode)


@pytest.mark.django_db
def test_ticks_build_one_candle_per_minute_with_ohlc_ticks_and_sources():
    tick("100", T0 + timedelta(seconds=1), sources=3)
    tick("103", T0 + timedelta(seconds=20), sources=5)
    tick("98", T0 + timedelta(seconds=40), sources=2)
    tick("101", T0 + timedelta(seconds=59), sources=4)
    tick("102", T0 + timedelta(seconds=61))
    first, second = Candle.objects.order_by("start")
    assert (first.open, first.high, first.low, first.close) == (D("100"), D("103"), D("98"), D("101"))
    assert first.ticks == 4 and first.sources == 5 and first.start == T0
    assert second.start == T0 + timedelta(minutes=1) and second.open == D("102") and second.ticks == 1


@pytest.mark.django_db
def test_modes_keep_separate_candles():
    tick("100", T0, mode="live")
    tick("5", T0, mode="replay")
    assert Candle.objects.filter(start=T0).count() == 2


def test_roll_up_merges_minutes_into_aligned_buckets():
    minutes = [
        Bucket(T0 + timedelta(minutes=i), D(100 + i), D(101 + i), D(99 + i), D(100 + i) + D("0.5"), 30, 3 + i % 2)
        for i in range(12)
    ]
    five = roll_up(minutes, timedelta(minutes=5))
    assert [b.start for b in five] == [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert (five[0].open, five[0].high, five[0].low, five[0].close) == (D(100), D(105), D(99), D("104.5"))
    assert five[0].ticks == 150 and five[0].sources == 4
    assert five[2].ticks == 60  # the partial newest bucket


@pytest.mark.django_db
def test_candles_api_rolls_up_on_read(api_client):
    for i in range(90):
        tick(str(100 + i), T0 + timedelta(minutes=i, seconds=5))
    end = (T0 + timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    response = api_client.get("/api/v1/market/candles", {"interval": "15m", "limit": 3, "end": end, "mode": "live"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [c["start"] for c in body] == [
        "2026-02-06T00:45:00.000000Z",
        "2026-02-06T01:00:00.000000Z",
        "2026-02-06T01:15:00.000000Z",
    ]
    assert body[0] == {
        "start": "2026-02-06T00:45:00.000000Z",
        "open": "145.00000000",
        "high": "159.00000000",
        "low": "145.00000000",
        "close": "159.00000000",
        "ticks": 15,
        "sources": 3,
    }
    hourly = api_client.get("/api/v1/market/candles", {"interval": "1h", "limit": 5, "end": end}).json()
    assert [c["ticks"] for c in hourly] == [60, 30]
    one_minute = api_client.get("/api/v1/market/candles", {"limit": 2, "end": end}).json()
    assert [c["close"] for c in one_minute] == ["188.00000000", "189.00000000"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "7m"}, "interval"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"end": "yesterday"}, "end"),
    ],
)
def test_candles_api_validates_its_parameters(api_client, params, field):
    response = api_client.get("/api/v1/market/candles", params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and field in body["extra"]["fields"]


@pytest.mark.django_db
def test_retention_prunes_old_minutes(settings):
    settings.PRICE_CANDLE_RETENTION_DAYS = 2
    tick("100", T0 - timedelta(days=3))
    tick("101", T0 - timedelta(days=1))
    assert candle_prune(now=T0) == 1
    assert list(Candle.objects.values_list("close", flat=True)) == [D("101")]


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_in_one_minute_never_lose_a_tick():
    """Eight threads folding ticks into the same new minute end with exactly one row counting all of them."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(5):
                tick(str(100 + i + j), T0 + timedelta(seconds=i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    candle = Candle.objects.get()
    assert candle.ticks == 40 and candle.high == D("111") and candle.low == D("100")


@pytest.mark.django_db
def test_admin_shows_source_health_and_candles(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="ops", password="pw-ops-123")
    client.force_login(admin)
    SourceHealth.objects.create(name="pyth", last_status="ok", last_price=D("79.08"))
    tick("79.08", T0)
    health = client.get("/admin/pricing/sourcehealth/")
    candles = client.get("/admin/pricing/candle/")
    assert health.status_code == 200 and "pyth" in health.content.decode()
    assert candles.status_code == 200 and "79.08" in candles.content.decode()


@pytest.mark.django_db
def test_market_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in ("/api/v1/market/price", "/api/v1/market/candles", "/api/v1/market/sources"):
        assert path in schema["paths"]
