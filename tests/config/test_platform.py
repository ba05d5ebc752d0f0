"""Platform wiring: schema and docs, admin, logging, Celery tasks, the in-process scheduler."""

import json
import logging
import time

import pytest

from config import heartbeat, scheduler
from config.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served_as_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"].startswith("SOL paper-trading")


def test_interactive_docs_use_local_assets_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_admin_login_page_is_served(client):
    assert client.get("/admin/login/").status_code == 200


def test_dashboard_states_the_running_mode(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "real stack (PostgreSQL + Redis + Celery)" in response.content.decode()


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "filled %s", ("order",), None)
    token = request_id_var.set("req-abc12345")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-abc12345"
    assert line["message"] == "filled order"
    assert line["level"] == "INFO"


def test_request_logs_inside_a_request_carry_its_id(client):
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record.request_id)

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.get("/api/v1/nope", HTTP_X_REQUEST_ID="trace-0000001")
    finally:
        logger.removeHandler(handler)
    assert seen and set(seen) == {"trace-0000001"}


def test_heartbeat_task_records_the_last_beat_run():
    from config.tasks import beat_heartbeat

    assert heartbeat.beat_last_run() is None
    beat_heartbeat.apply()
    assert heartbeat.beat_last_run() is not None


def test_in_process_scheduler_runs_the_beat_schedule(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "platform-heartbeat": {"task": "platform.beat_heartbeat", "schedule": 0.05},
    }
    started = scheduler.start()
    try:
        assert started == ["platform-heartbeat"]
        deadline = time.monotonic() + 10
        while heartbeat.beat_last_run() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.beat_last_run() is not None
        assert scheduler.start() == [], "a second start is a no-op"
    finally:
        scheduler.stop()
