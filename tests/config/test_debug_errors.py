"""Under DEBUG=1 every /api/ error is still the JSON {code, message, extra}: Django's technical
404 and 500 pages (which bypass handler404/500 under DEBUG) never answer an API request."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = [pytest.mark.urls("tests.config.probe_urls"), pytest.mark.django_db]


@pytest.fixture
def debug_client(settings):
    settings.DEBUG = True
    return Client(raise_request_exception=False)


def _shape(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "extra"}, body
    return body


@pytest.mark.parametrize(
    "url",
    ["/api/v1/does-not-exist", "/api/nothing", "/api/v1/orders/not-a-uuid", "/api/v1/auth/sessions/x/y"],
)
def test_unknown_api_paths_are_a_json_404_under_debug(debug_client, url):
    """DEBUG on: an unknown path under /api/ is 404 not_found in the error shape, with no
    trace of Django's technical 404 page (URL patterns, settings)."""
    response = debug_client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert _shape(response)["code"] == "not_found"
    assert b"urlpatterns" not in response.content and b"DEBUG = True" not in response.content


def test_a_crash_in_a_plain_api_view_is_a_json_500_under_debug(debug_client):
    """DEBUG on: a non-DRF view under /api/ that raises answers 500 internal_error in the error
    shape, not the technical 500 page with its traceback and settings."""
    response = debug_client.get("/api/v1/_probe/plain-crash")
    assert response.status_code == 500
    assert _shape(response)["code"] == "internal_error"
    assert b"internals" not in response.content and b"Traceback" not in response.content


def test_drf_errors_keep_their_code_under_debug(debug_client):
    """DEBUG on: DRF's own errors are unchanged (their codes, headers)."""
    response = debug_client.delete("/api/v1/_probe/echo", HTTP_ACCEPT="application/json")
    assert response.status_code == 405
    assert _shape(response)["code"] == "method_not_allowed" and "POST" in response["Allow"]


def test_unknown_pages_keep_django_behaviour_outside_the_api(debug_client):
    """Only /api/ is reshaped: a page 404 under DEBUG is still HTML (Django's page for developers)."""
    response = debug_client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_browsable_api_still_renders_its_errors_as_html_when_asked(settings):
    """A browser asking the API for HTML gets DRF's browsable page, error included: content
    negotiation, not a mode, decides that (the JSON shape is what every API client gets)."""
    response = Client().get("/api/v1/orders", HTTP_ACCEPT="text/html")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("text/html")
