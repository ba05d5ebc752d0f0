"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 payload_too_large in the error shape, on the API
and off it, in every mode; the strict JSON parser refuses it before reading it."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIRequestFactory

from core.errors import PayloadTooLarge
from core.parsers import StrictJSONParser

pytestmark = [pytest.mark.urls("tests.config.probe_urls"), pytest.mark.django_db]

THREE_MB = 3 * 1024 * 1024


def big_json() -> str:
    body = json.dumps({"qty": "1", "side": "buy", "pad": "x" * THREE_MB})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return body


def assert_413(response) -> dict:
    assert response.status_code == 413, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert body["code"] == "payload_too_large"
    assert body["extra"]["limit_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return body


@pytest.mark.parametrize("url", ["/api/v1/_probe/echo", "/api/v1/auth/nonce", "/api/v1/auth/verify"])
def test_a_3_mb_json_body_is_413_payload_too_large_on_the_api(url):
    """A 3 MB JSON body to a DRF view is 413 payload_too_large with the limit in extra, not a 500."""
    assert_413(Client().post(url, big_json(), content_type="application/json"))


def test_a_3_mb_form_body_is_413_on_the_api():
    """A form-encoded body over the limit (DRF's FormParser reads request.POST) is 413 too."""
    response = Client().post(
        "/api/v1/auth/nonce", "pad=" + "x" * THREE_MB, content_type="application/x-www-form-urlencoded"
    )
    assert_413(response)


def test_an_oversized_body_for_a_signed_in_order_is_413_and_stores_nothing():
    """Signed in, a 3 MB order body is 413 and no order exists afterwards."""
    from tests.accounts.helpers import sign_in
    from trading.models import Order

    token, user = sign_in(Client())
    body = json.dumps({"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "1", "pad": "x" * THREE_MB})
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/orders", body, content_type="application/json"
    )
    assert_413(response)
    assert not Order.objects.filter(user=user).exists()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_an_oversized_body_to_a_plain_django_view_is_413(settings, debug):
    """Outside DRF (the admin login view reads request.POST) an oversized body is 413
    payload_too_large -- JSON when JSON is accepted, the HTML error page otherwise -- with DEBUG
    on or off (not Django's 400)."""
    settings.DEBUG = debug
    form = "username=a&pad=" + "x" * THREE_MB
    as_json = Client().post(
        "/admin/login/", form, content_type="application/x-www-form-urlencoded", HTTP_ACCEPT="application/json"
    )
    assert_413(as_json)
    as_page = Client().post("/admin/login/", form, content_type="application/x-www-form-urlencoded")
    assert as_page.status_code == 413
    assert as_page["Content-Type"].startswith("text/html") and b"payload_too_large" in as_page.content


def test_an_oversized_body_read_by_a_middleware_is_413():
    """When a middleware reads the body first (CSRF on a form POST with the CSRF cookie set),
    the 413 comes from handler400 (Django's answer to RequestDataTooBig), not a 400."""
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    response = client.post(
        "/admin/login/",
        "csrfmiddlewaretoken=x&pad=" + "x" * THREE_MB,
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT="application/json",
    )
    assert_413(response)


class _Unreadable(io.RawIOBase):
    """A body stream that must not be read."""

    def read(self, size=-1):
        raise AssertionError("the parser read a body it should have refused")


def test_strict_parser_refuses_a_declared_oversized_body_before_reading_it():
    """StrictJSONParser looks at Content-Length first: over the limit it raises PayloadTooLarge
    without reading a byte."""
    request = APIRequestFactory().post("/x", "{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(THREE_MB)
    with pytest.raises(PayloadTooLarge) as info:
        StrictJSONParser().parse(_Unreadable(), "application/json", {"request": request})
    assert info.value.status == 413 and info.value.code == "payload_too_large"


class _Recording(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)


def test_strict_parser_never_reads_past_the_limit_when_the_length_is_unknown(settings):
    """With no (or an understated) Content-Length, the parser reads at most limit + 1 bytes and
    refuses the body when there are more; a body at the limit parses."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    stream = _Recording(b'{"pad": "' + b"x" * 200 + b'"}')
    with pytest.raises(PayloadTooLarge):
        StrictJSONParser().parse(stream, "application/json", {"request": None})
    assert stream.sizes == [101]
    exact = b'{"pad": "' + b"x" * 89 + b'"}'
    assert len(exact) == 100
    assert StrictJSONParser().parse(io.BytesIO(exact), "application/json", {})["pad"] == "x" * 89


def test_too_many_form_fields_is_413_naming_the_field_limit(settings):
    """A form body with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS is 413 payload_too_large
    too (Django's TooManyFieldsSent), with the field limit in extra."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    form = "&".join(f"f{i}=1" for i in range(50))
    response = Client().post("/api/v1/auth/nonce", form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large" and body["extra"]["limit_fields"] == 10
