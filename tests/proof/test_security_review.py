"""Security tier, outside review (issue 14, "API, auth, transport"): oversized bodies, tampered
cursors, DEBUG error pages, sign-in lock-out, CSV formula injection, /readyz error text.

Like test_security.py, most checks go through the real HTTP stack in-process (Django test client:
middleware, DRF, handlers) on the real PostgreSQL and Redis, driven by the OpenAPI schema where a
rule holds for every operation; the transport checks run against a real web tier (nginx +
gunicorn + daphne) started with DEBUG=1 (tests/proof/stack.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
from base64 import b64encode
from decimal import Decimal

import httpx
import pytest
from django.conf import settings
from django.test import Client
from solders.keypair import Keypair

from tests.accounts.helpers import sign, sign_in
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.proof.stack import WebTier
from tests.trading.helpers import order_body, set_price
from tests.trading.position_helpers import open_body

pytestmark = pytest.mark.django_db

SCHEMA_PATH = "/api/schema/?format=json"
UNSAFE = ("post", "put", "patch", "delete")
THREE_MB = 3 * 1024 * 1024
TAMPERED_CURSORS = [
    "cD1nYXJiYWdl",  # "p=garbage": the reviewer's 500
    b64encode(b"p=2024-13-45 99:99:99+00:00").decode(),
    b64encode(b"o=-5&r=1").decode(),
    b64encode(b"o=1&p=1&p=2").decode(),
    b64encode(b"p=9999-12-31 23:59:59-14:00").decode(),
    "%27%3B%20DROP%20TABLE%20trading_order%3B--",
    "!!!",
]
TECHNICAL_PAGE_MARKERS = (b"<!DOCTYPE html>", b"Traceback", b"urlpatterns", b"DEBUG = True", b"technical")


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:200])
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    return body


def schema_operations(client: Client) -> list[tuple[str, str, dict]]:
    schema = client.get(SCHEMA_PATH).json()
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_an_oversized_body_on_every_operation_that_takes_one_is_413_and_changes_nothing():
    """Signed in, a 3 MB JSON body sent to every operation of the schema that takes a body
    (orders, positions, open/close, API keys, sign-in) is 413 payload_too_large in the error
    shape: no 500, no order, position or key created, the open position still open, books clean."""
    set_price(Decimal("150"))
    token, user = sign_in(Client())
    client = bearer(token)
    position = client.post("/api/v1/positions", json.dumps(open_body()), content_type="application/json").json()
    before = balances_of(user)
    pad = "x" * THREE_MB
    checked = 0
    for path, method, op in schema_operations(client):
        if method not in UNSAFE or "requestBody" not in op:
            continue
        url = re.sub(r"\{[^}]+\}", position["id"], path)
        body = json.dumps({**order_body(client_order_id="big-1"), "pad": pad})
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 413, (method, url, response.status_code, response.content[:200])
        error = error_of(response)
        assert error["code"] == "payload_too_large" and error["extra"]["limit_bytes"] > 0
        checked += 1
    assert checked >= 7
    from accounts.models import ApiKey
    from trading.models import Order, Position

    assert not Order.objects.filter(user=user).exclude(client_order_id="p-1").exists()
    assert Position.objects.filter(user=user).count() == 1
    assert client.get(f"/api/v1/positions/{position['id']}").json()["status"] == "open"
    assert not ApiKey.objects.filter(user=user).exists()
    assert balances_of(user) == before
    assert_books_ok()


def test_a_tampered_cursor_on_every_paginated_list_is_400_invalid_cursor():
    """Every list the schema documents with a ``cursor`` parameter answers a cursor it did not
    issue with 400 invalid_cursor (never 500, 404 or a silent first page), and still follows
    the cursors it did issue."""
    set_price(Decimal("150"))
    token, _user = sign_in(Client())
    client = bearer(token)
    for i in range(2):
        placed = client.post("/api/v1/orders", json.dumps(order_body(client_order_id=f"cur-{i}")), "application/json")
        assert placed.status_code == 201
    lists = [
        path
        for path, method, op in schema_operations(client)
        if method == "get" and any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    assert {"/api/v1/orders", "/api/v1/trades", "/api/v1/ledger", "/api/v1/positions"} <= set(lists), lists
    for path in lists:
        for value in TAMPERED_CURSORS:
            response = client.get(f"{path}?cursor={value}")
            assert response.status_code == 400, (path, value, response.status_code, response.content[:200])
            assert error_of(response)["code"] == "invalid_cursor"
        issued = client.get(path, {"limit": 1}).json()
        if issued["next"]:
            assert client.get(issued["next"]).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/does-not-exist",
        "/api/",
        "/api/v2/orders",
        "/api/v1/orders/not-a-uuid",
        "/api/v1/positions/1/close/extra",
        "/api/v1/../../etc/passwd",
    ],
)
def test_under_debug_every_api_error_is_the_json_shape(settings, url):
    """DEBUG=1: unknown or malformed /api/ paths answer 404 in {code, message, extra}, never
    Django's technical page (URL patterns, settings, traceback)."""
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get(url, HTTP_ACCEPT="text/html,*/*")
    assert 400 <= response.status_code < 500, (url, response.status_code)
    error_of(response)
    for marker in TECHNICAL_PAGE_MARKERS:
        assert marker not in response.content, (url, marker)


def test_nobody_can_lock_a_wallet_out_of_sign_in(settings):
    """An attacker rotating through 40 addresses (IPs) asks nonces for the victim's wallet,
    posts forged verifies claiming it and replays the victim's last signed message: each IP is
    limited on its own (429 verify:ip), the victim's wallet quota is untouched, and the victim
    signs in from their own IP."""
    victim = Keypair()
    address = str(victim.pubkey())
    first = Client().post("/api/v1/auth/nonce", json.dumps({"address": address}), "application/json").json()
    used = {"message": first["message"], "signature": sign(victim, first["message"])}
    assert Client().post("/api/v1/auth/verify", json.dumps(used), "application/json").status_code == 200
    forged = {"message": first["message"], "signature": sign(Keypair(), first["message"])}
    settings.AUTH_RATE_VERIFY_IP = verify_ip = (5, 10**6)  # one fixed window for the whole test
    for i in range(40):
        ip = f"198.51.100.{i + 1}"
        asked = Client().post(
            "/api/v1/auth/nonce", json.dumps({"address": address}), "application/json", REMOTE_ADDR=ip
        )
        assert asked.status_code == 201
        fresh = {"message": asked.json()["message"], "signature": sign(Keypair(), asked.json()["message"])}
        assert (
            Client().post("/api/v1/auth/verify", json.dumps(fresh), "application/json", REMOTE_ADDR=ip).status_code
            == 401
        )
        replay = Client().post("/api/v1/auth/verify", json.dumps(used), "application/json", REMOTE_ADDR=ip)
        assert replay.status_code == 409 and replay.json()["code"] == "NONCE_REUSED"
    one_ip = [
        Client().post("/api/v1/auth/verify", json.dumps(forged), "application/json", REMOTE_ADDR="203.0.113.66")
        for _ in range(verify_ip[0] + 1)
    ]
    assert one_ip[-1].status_code == 429 and one_ip[-1].json()["extra"]["scope"] == "verify:ip"
    token, user = sign_in(Client(), keypair=victim)
    assert user.address == address and bearer(token).get("/api/v1/auth/me").status_code == 200


def test_csv_export_cells_never_start_a_formula():
    """/ledger?format=csv with a formula in an ops memo and a negative adjustment: every cell that
    starts with = + - @ TAB CR is either quoted (') or a plain decimal number."""
    from portfolio.models import LedgerAccount
    from portfolio.services import balance_adjust

    token, user = sign_in(Client())
    account = LedgerAccount.objects.get(user=user)
    for memo in ("=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-1+1", "\t=1+1"):
        balance_adjust(account=account, asset="USD", amount=Decimal("-1.25"), reason=memo)
    response = bearer(token).get("/api/v1/ledger?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) > 5
    plain_decimal = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert plain_decimal.fullmatch(cell), (cell, row)
    memos = [row[-1] for row in rows[1:] if row[3] == "adjustment"]
    assert memos and all(memo.startswith("'") for memo in memos), memos
    assert_books_ok()


def test_readyz_never_shows_a_dependencys_error_text(settings):
    """/readyz is public: with Redis unreachable it names a code (redis_unavailable), never the
    client library's message with host and port."""
    from core.redis import _client
    from tests.conftest import closed_port

    port = closed_port()
    _client.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    try:
        response = Client().get("/readyz")
    finally:
        _client.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["error"] == "redis_unavailable"
    text = response.content.decode()
    assert str(port) not in text and "127.0.0.1" not in text and "Error" not in text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_through_daphne_with_debug_on_errors_stay_json_and_bodies_are_capped():
    """A real daphne serving with DEBUG=1: a 3 MB JSON body is 413 payload_too_large, an unknown
    /api/ path is a JSON 404 (no technical page), a tampered cursor is 400 invalid_cursor."""
    set_price(Decimal("150"))
    server = WebTier()
    server.env["DEBUG"] = "1"
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            big = http.post(
                "/api/v1/auth/nonce",
                content=json.dumps({"pad": "x" * THREE_MB}),
                headers={"Content-Type": "application/json"},
            )
            assert big.status_code == 413, big.text[:300]
            assert big.json()["code"] == "payload_too_large"
            assert set(big.json()) == {"code", "message", "extra"}

            missing = http.get("/api/v1/does-not-exist", headers={"Accept": "text/html"})
            assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")
            assert missing.json()["code"] == "not_found" and "urlpatterns" not in missing.text

            keypair = Keypair()
            issued = http.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
            signed = {"message": issued["message"], "signature": sign(keypair, issued["message"])}
            token = http.post("/api/v1/auth/verify", json=signed).json()["token"]
            tampered = http.get("/api/v1/orders?cursor=cD1nYXJiYWdl", headers={"Authorization": f"Bearer {token}"})
            assert tampered.status_code == 400 and tampered.json()["code"] == "invalid_cursor"
    finally:
        server.stop()
    assert settings.DEBUG is False  # the in-process settings were never touched
