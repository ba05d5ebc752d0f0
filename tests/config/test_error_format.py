"""Every API error is {"code", "message", "extra"} with a stable code."""

import json

import pytest

pytestmark = [pytest.mark.urls("tests.config.probe_urls"), pytest.mark.django_db]


def _body(response) -> dict:
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "extra"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["extra"], dict)
    return body


def post_json(client, url, raw: str):
    return client.post(url, data=raw, content_type="application/json", HTTP_ACCEPT="application/json")


def test_unknown_api_url_is_a_json_404(client):
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert _body(response)["code"] == "not_found"


def test_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete("/api/v1/_probe/echo", HTTP_ACCEPT="application/json")
    assert response.status_code == 405
    assert _body(response)["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]


def test_health_endpoints_answer_405_in_the_same_shape(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert _body(response)["code"] == "method_not_allowed"


def test_validation_errors_name_each_field_and_its_code(client):
    response = post_json(client, "/api/v1/_probe/echo", '{"qty": "abc", "side": "hold"}')
    assert response.status_code == 400
    body = _body(response)
    assert body["code"] == "validation_error"
    assert body["extra"]["fields"]["qty"][0]["code"] == "invalid"
    assert body["extra"]["fields"]["side"][0]["code"] == "invalid_choice"


def test_missing_field_is_reported_as_required(client):
    response = post_json(client, "/api/v1/_probe/echo", '{"side": "buy"}')
    assert _body(response)["extra"]["fields"]["qty"][0]["code"] == "required"


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"qty": NaN, "side": "buy"}',
        '{"qty": Infinity, "side": "buy"}',
        '{"qty": "1", "qty": "100", "side": "buy"}',
        "[" * 20000 + "]" * 20000,
        '{"a":' * 20000 + "1" + "}" * 20000,
    ],
    ids=["broken", "nan", "infinity", "duplicate-key", "deep-array", "deep-object"],
)
def test_unparseable_bodies_are_400_malformed_request(client, raw):
    response = post_json(client, "/api/v1/_probe/echo", raw)
    assert response.status_code == 400
    assert _body(response)["code"] == "malformed_request"


def test_decimals_travel_as_strings_and_numbers_never_pass_through_float(client):
    response = post_json(client, "/api/v1/_probe/echo", '{"qty": 1234567890.123456789, "side": "buy"}')
    assert response.status_code == 200
    assert json.loads(response.content)["qty"] == "1234567890.123456789"


def test_wrong_content_type_is_415(client):
    response = client.post(
        "/api/v1/_probe/echo", data="qty=1", content_type="text/plain", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 415
    assert _body(response)["code"] == "unsupported_media_type"


def test_domain_errors_carry_their_code_status_and_extra(client):
    response = post_json(client, "/api/v1/_probe/refuse", "{}")
    assert response.status_code == 422
    assert _body(response) == {"code": "insufficient_funds", "message": "Not enough USD.", "extra": {"needed": "10.00"}}


def test_unavailability_is_503_with_retry_after(client):
    response = client.get("/api/v1/_probe/unavailable", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    body = _body(response)
    assert body["code"] == "price_stale"
    assert body["extra"]["retry_after"] == 2


def test_crash_in_an_api_view_is_a_500_without_internals(client):
    response = client.get("/api/v1/_probe/crash", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
    body = _body(response)
    assert body["code"] == "internal_error"
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_crash_in_a_plain_view_is_a_json_500_under_api(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/_probe/plain-crash")
    assert response.status_code == 500
    assert _body(response)["code"] == "internal_error"
    assert "internals" not in response.content.decode()


def test_every_response_carries_a_request_id_and_echoes_a_sane_one(client):
    fresh = client.get("/healthz")
    assert len(fresh["X-Request-ID"]) == 32
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID="lb-req-12345678")
    assert echoed["X-Request-ID"] == "lb-req-12345678"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert forged["X-Request-ID"] != "bad id\nwith newline"
