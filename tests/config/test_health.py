"""Liveness and readiness probes."""

from datetime import datetime, timedelta, timezone

import pytest
from django.core.cache import cache

from config import heartbeat
from pricing.selectors import LATEST_PRICE_KEY

pytestmark = pytest.mark.django_db


def _fresh_price(age_seconds: float = 1.0) -> None:
    computed = datetime.now(timezone.utc) - timedelta(seconds=age_seconds)
    cache.set(LATEST_PRICE_KEY, {"price": "150.00", "computed_at": computed.isoformat()}, timeout=60)


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_until_a_price_and_a_beat_exist(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["mode"] == "real"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"] == {"ok": True, "configured": True}
    assert body["checks"]["price"]["ok"] is False
    assert body["checks"]["price"]["error"] == "no price yet"
    assert body["checks"]["beat"]["ok"] is False


def test_readyz_is_200_with_a_fresh_price_and_a_recent_beat(client):
    _fresh_price(1.0)
    heartbeat.beat_mark()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert 0.5 < body["checks"]["price"]["age_seconds"] < 15
    assert body["checks"]["beat"]["last_run"].endswith("Z")


def test_readyz_reports_a_stale_price_and_an_old_beat(client, settings):
    _fresh_price(settings.PRICE_STALE_SECONDS + 5)
    heartbeat.beat_mark(datetime.now(timezone.utc) - timedelta(seconds=settings.BEAT_STALE_SECONDS + 1))
    body = client.get("/readyz").json()
    assert body["checks"]["price"]["ok"] is False
    assert body["checks"]["price"]["age_seconds"] > settings.PRICE_STALE_SECONDS
    assert body["checks"]["beat"]["ok"] is False


def test_readyz_is_503_when_redis_cannot_be_reached(client, settings):
    from tests.conftest import closed_port

    _fresh_price()
    heartbeat.beat_mark()
    from core.redis import _client

    _client.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        response = client.get("/readyz")
    finally:
        _client.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.fixture
def database_unreachable():
    """The default connection pointed at a closed local port (a real refused connect), then restored."""
    from django.db import connection

    from tests.conftest import closed_port

    port = closed_port()
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = port
    try:
        yield port
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


@pytest.mark.django_db(transaction=True)
def test_readyz_shows_a_code_not_the_database_error_text(client, database_unreachable, caplog):
    """The database unreachable: /readyz is 503 with ``error: database_unavailable`` and nothing of
    the driver's message (host, port, "Connection refused"); the details are in the log."""
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.json()["checks"]["database"]
    assert check == {"ok": False, "engine": "postgresql", "error": "database_unavailable"}
    text = response.content.decode()
    for leak in (str(database_unreachable), "127.0.0.1", "refused", "connection to server"):
        assert leak not in text, leak
    logged = [r.getMessage() for r in caplog.records if r.name == "config.health"]
    assert any("database" in line and str(database_unreachable) in line for line in logged), logged


def test_readyz_shows_a_code_not_the_redis_error_text(client, settings, caplog):
    """Redis unreachable: ``error: redis_unavailable``, no host or port in the body; details logged."""
    from core.redis import _client
    from tests.conftest import closed_port

    _fresh_price()
    heartbeat.beat_mark()
    port = closed_port()
    _client.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    try:
        response = client.get("/readyz")
    finally:
        _client.cache_clear()
    assert response.json()["checks"]["redis"] == {"ok": False, "configured": True, "error": "redis_unavailable"}
    assert str(port) not in response.content.decode() and "127.0.0.1" not in response.content.decode()
    assert any(str(port) in r.getMessage() for r in caplog.records if r.name == "config.health")
