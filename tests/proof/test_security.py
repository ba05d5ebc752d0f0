"""Security checks: nobody reaches what is not theirs, hostile input changes nothing, nothing leaks.

Every check goes through the real HTTP stack (Django test client: middleware, DRF auth, CSRF)
or the real ASGI app (WebSocket), on the real PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.accounts.helpers import create_api_key, sign_in
from tests.conftest import ROOT
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import order_body, set_price
from tests.trading.position_helpers import open_body

pytestmark = pytest.mark.django_db

SCHEMA_PATH = "/api/schema/?format=json"
UNSAFE = ("post", "put", "patch", "delete")
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "psycopg",
    "django.db",
    "SELECT ",
    "INSERT INTO",
    "IntegrityError",
    "OperationalError",
    "SECRET_KEY",
    "DATABASES",
    "/work/",
    "site-packages",
)


def bearer(token: str) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def post(client: Client, url: str, body: dict | None = None, **extra):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **extra)


def assert_no_leak(response) -> None:
    text = response.content.decode("utf-8", "replace")
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{response.status_code} body leaks {marker!r}: {text[:400]}"
    assert settings.SECRET_KEY not in text


@pytest.fixture
def alice_and_bob():
    """Two wallets signed in over HTTP; Alice owns an order, a position, a session and an API key."""
    set_price(Decimal("150"))
    alice_token, alice = sign_in(Client())
    bob_token, bob = sign_in(Client())
    a = bearer(alice_token)
    order = post(a, "/api/v1/orders", order_body(client_order_id="alice-1"))
    assert order.status_code == 201, order.content
    position = post(a, "/api/v1/positions", open_body(client_order_id="alice-p1"))
    assert position.status_code == 201, position.content
    key_id, secret = create_api_key(alice)
    sessions = a.get("/api/v1/auth/sessions").json()
    return {
        "alice": alice,
        "bob": bob,
        "a": a,
        "b": bearer(bob_token),
        "order_id": order.json()["id"],
        "position_id": position.json()["id"],
        "session_id": sessions[0]["id"],
        "key_id": key_id,
        "secret": secret,
    }


def test_another_users_objects_by_id_are_404_and_untouched(alice_and_bob):
    """Bob asking for, closing or revoking Alice's order, position, session or API key by id gets
    404 not_found every time, and Alice's things are exactly as before."""
    ctx = alice_and_bob
    b = ctx["b"]
    before = balances_of(ctx["alice"])
    attempts = [
        b.get(f"/api/v1/orders/{ctx['order_id']}"),
        b.get(f"/api/v1/positions/{ctx['position_id']}"),
        post(b, f"/api/v1/positions/{ctx['position_id']}/close", {"client_order_id": "bob-1"}),
        post(b, f"/api/v1/positions/{ctx['position_id']}/close", {"qty": "0.001", "client_order_id": "bob-2"}),
        post(b, "/api/v1/positions/close", {"positionId": ctx["position_id"], "currentPrice": "150"}),
        b.delete(f"/api/v1/auth/sessions/{ctx['session_id']}"),
        b.delete(f"/api/v1/auth/api-keys/{ctx['key_id']}"),
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request["PATH_INFO"], response.content)
        assert response.json()["code"] == "not_found"
        assert_no_leak(response)
    # Listing filters never cross users either.
    assert b.get("/api/v1/orders", {"client_order_id": "alice-1"}).json()["results"] == []
    assert b.get("/api/v1/trades", {"order_id": ctx["order_id"]}).json()["results"] == []
    assert b.get("/api/v1/positions").json()["results"] == []
    # Alice: position open, session alive, key alive, money unchanged.
    a = ctx["a"]
    assert a.get(f"/api/v1/positions/{ctx['position_id']}").json()["status"] == "open"
    assert a.get("/api/v1/auth/me").status_code == 200
    key_client = Client(HTTP_APCA_API_KEY_ID=ctx["key_id"], HTTP_APCA_API_SECRET_KEY=ctx["secret"])
    assert key_client.get("/api/v1/portfolio").status_code == 200
    assert balances_of(ctx["alice"]) == before
    assert_books_ok()


@pytest.mark.django_db(transaction=True)
async def test_websocket_never_carries_another_users_events(alice_and_bob, fast_ws):
    """Bob's socket, subscribed to his account and resuming from seq 0, sees none of Alice's
    events (her fill, position and portfolio updates carry her seqs on her stream only)."""
    from channels.db import database_sync_to_async

    from realtime.models import UserEvent
    from tests.realtime.conftest import connect, receive_until

    ctx = alice_and_bob
    token = ctx["b"].defaults["HTTP_AUTHORIZATION"].split()[1]
    alice_events = await database_sync_to_async(UserEvent.objects.filter(user=ctx["alice"]).count)()
    assert alice_events > 0
    communicator = await connect(f"/ws/?token={token}")
    try:
        await receive_until(communicator, "authenticated")
        await communicator.send_json_to({"type": "subscribe", "channels": ["account"]})
        await receive_until(communicator, "subscribed")
        await communicator.send_json_to({"type": "resume", "after_seq": 0})
        resumed = await receive_until(communicator, "resumed")
        assert resumed["data"]["replayed"] == 0, resumed
        # Alice trades again while Bob listens: nothing of hers reaches him.
        response = await database_sync_to_async(post)(ctx["a"], "/api/v1/orders", order_body(client_order_id="alice-2"))
        assert response.status_code == 201
        stray = []
        while not await communicator.receive_nothing(timeout=0.5):
            stray.append(await communicator.receive_json_from())
        assert [f for f in stray if f.get("type") not in ("price_update", "heartbeat")] == [], stray
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize(
    ("url", "body_factory"),
    [
        ("/api/v1/orders", lambda: order_body(client_order_id="mass-1")),
        ("/api/v1/positions", lambda: open_body(client_order_id="mass-p1")),
    ],
)
@pytest.mark.parametrize(
    "field,value",
    [
        ("user", 1),
        ("user_id", 1),
        ("balance", "1000000"),
        ("fee", "0"),
        ("status", "filled"),
        ("is_staff", True),
        ("price", "0.01"),
        ("filled_avg_price", "0.01"),
        ("entry_price", "0.01"),
        ("liquidation_price", "0"),
    ],
)
def test_mass_assignment_is_refused_with_no_side_effect(url, body_factory, field, value):
    """Extra fields (user, balance, fee, status, is_staff, prices) in an order or position body are
    refused as 400 unknown_field; nothing is filled, the user is not staff, balances are unchanged."""
    set_price(Decimal("150"))
    token, user = sign_in(Client())
    before = balances_of(user)
    body = {**body_factory(), field: value}
    response = post(bearer(token), url, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "validation_error"
    assert error["extra"]["fields"][field][0]["code"] == "unknown_field"
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser
    assert balances_of(user) == before
    assert_books_ok()


def test_mass_assignment_on_api_keys_and_sign_in_never_escalates():
    """is_staff / user / scopes beyond read+trade sent to API-key creation are ignored or refused:
    the key belongs to the caller with only the asked scopes, and the caller never becomes staff."""
    token, user = sign_in(Client())
    client = bearer(token)
    response = post(
        client,
        "/api/v1/auth/api-keys",
        {"name": "k", "scopes": ["read"], "is_staff": True, "user": 1, "user_id": 1, "revoked_at": None},
    )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert response.json()["scopes"] == ["read"]
        from accounts.models import ApiKey

        assert ApiKey.objects.get(key_id=response.json()["key_id"]).user_id == user.pk
    refused = post(client, "/api/v1/auth/api-keys", {"name": "k2", "scopes": ["admin"]})
    assert refused.status_code == 400
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser


def _schema_unsafe_operations(client: Client) -> list[tuple[str, str]]:
    schema = client.get(SCHEMA_PATH).json()
    return [(path, method) for path, ops in schema["paths"].items() for method in ops if method in UNSAFE]


def test_csrf_is_enforced_on_every_cookie_authenticated_unsafe_method():
    """A browser session (cookie only) sending any unsafe method listed in the OpenAPI schema
    without the CSRF token is refused 403 csrf_failed and changes nothing; sign-in itself
    (nonce, verify) is not cookie-authenticated and needs none."""
    set_price(Decimal("150"))
    browser = Client()
    _token, user = sign_in(browser)
    browser.handler.enforce_csrf_checks = True  # from here on the client behaves like a browser
    assert settings.SESSION_COOKIE_NAME in browser.cookies
    operations = _schema_unsafe_operations(browser)
    assert len(operations) >= 8, operations
    fake_uuid = "00000000-0000-4000-8000-000000000000"
    checked = 0
    for path, method in operations:
        if path in ("/api/v1/auth/nonce", "/api/v1/auth/verify"):
            continue
        url = re.sub(r"\{[^}]+\}", fake_uuid, path)
        body = json.dumps(order_body(client_order_id="csrf-1") if path == "/api/v1/orders" else {})
        response = getattr(browser, method)(url, body, content_type="application/json")
        assert response.status_code == 403, (method, url, response.content)
        assert response.json()["code"] == "csrf_failed", (method, url, response.content)
        checked += 1
    assert checked >= 6
    from trading.models import Order

    assert not Order.objects.filter(user=user).exists()
    assert browser.get("/api/v1/auth/me").status_code == 200, "the session survived every refused logout"
    # With the token the same cookie session may trade: the refusals were CSRF, not auth.
    browser.get("/")
    csrf = browser.cookies.get(settings.CSRF_COOKIE_NAME)
    if csrf is not None:
        ok = browser.post(
            "/api/v1/orders",
            json.dumps(order_body(client_order_id="csrf-2")),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=csrf.value,
        )
        assert ok.status_code == 201, ok.content


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example.com", b"null", b"http://127.0.0.1.evil.example", None],
)
async def test_websocket_handshake_from_foreign_or_missing_origin_is_refused(origin, settings):
    """With DEBUG off, a WebSocket handshake whose Origin is not an allowed host (or that has no
    Origin at all) is refused before the consumer runs."""
    from channels.testing import WebsocketCommunicator

    from tests.realtime.conftest import app

    settings.DEBUG = False
    headers = [(b"origin", origin)] if origin is not None else []
    communicator = WebsocketCommunicator(app(), "/ws/", headers=headers)
    connected, _code = await communicator.connect(timeout=5)
    assert connected is False
    await communicator.disconnect()


def test_forged_x_forwarded_for_does_not_bypass_the_sign_in_rate_limit(settings):
    """With no trusted proxy configured, a client rotating X-Forwarded-For on every request still
    hits the per-IP nonce limit at exactly the configured count (429 rate_limited + Retry-After)."""
    settings.AUTH_TRUSTED_PROXY_COUNT = 0
    limit, _window = settings.AUTH_RATE_NONCE_IP
    client = Client()
    statuses = []
    for i in range(limit + 3):
        response = post(
            client,
            "/api/v1/auth/nonce",
            {},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i % 250}, 192.0.2.{i % 250}",
        )
        statuses.append(response.status_code)
    assert statuses[:limit] == [201] * limit
    assert statuses[limit:] == [429] * 3
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def test_forged_x_forwarded_for_behind_one_proxy_only_trusts_the_proxys_entry(settings):
    """Behind one trusted proxy the client's own left-most XFF entries are ignored: a forged
    prefix does not create a fresh quota (the proxy-appended address is the one counted)."""
    settings.AUTH_TRUSTED_PROXY_COUNT = 1
    limit, _window = settings.AUTH_RATE_NONCE_IP
    client = Client()
    codes = [
        post(
            client,
            "/api/v1/auth/nonce",
            {},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i % 250}, 203.0.113.9",
        ).status_code
        for i in range(limit + 1)
    ]
    assert codes[-1] == 429 and codes[:-1] == [201] * limit


HOSTILE = [
    ("get", "/api/v1/orders?limit=-1"),  # clamped: 200 or 400, never 5xx
    ("get", "/api/v1/orders?limit=99999999999999999999999"),
    ("get", "/api/v1/orders?cursor=%27%3B%20DROP%20TABLE%20trading_order%3B--"),
    ("get", "/api/v1/orders?after=not-a-date&until=1e999"),
    ("get", "/api/v1/orders?status=filled%27%20OR%201%3D1--"),
    ("get", "/api/v1/orders/not-a-uuid"),
    ("get", "/api/v1/ledger?asset=%00&reason=%27"),
    ("get", "/api/v1/ledger?format=csv&after=%FF"),
    ("get", "/api/v1/portfolio/history?period=%27&timeframe=1e9"),
    ("get", "/api/v1/positions?status=%00"),
    ("get", "/api/v1/market/candles?interval=1m&limit=-5&end=%27"),
    ("get", "/api/v1/leaderboard?period=x&metric=%27;--"),
    ("get", "/api/v1/does-not-exist"),
    ("get", "/../../etc/passwd"),
    ("delete", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
]


@pytest.mark.parametrize(("method", "url"), HOSTILE)
def test_hostile_requests_never_5xx_and_never_leak(method, url):
    """Injection-looking parameters, bad ids, unknown URLs and wrong methods get a 4xx in the
    {code, message, extra} shape, never a 5xx, and no body mentions a traceback, SQL or settings."""
    set_price(Decimal("150"))
    token, _user = sign_in(Client())
    client = bearer(token)
    if method == "post":
        response = client.post(url, b'{"qty": "1", "qty": "2"', content_type="application/json")
    else:
        response = getattr(client, method)(url)
    assert response.status_code < 500, (url, response.status_code, response.content[:300])
    if response.status_code >= 400 or "/api/v1/orders/" in url or "does-not-exist" in url:
        assert 400 <= response.status_code < 500, (url, response.status_code)
    assert_no_leak(response)
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        body = response.json()
        assert set(body) == {"code", "message", "extra"}, body


def test_an_unexpected_exception_is_answered_without_internals(monkeypatch):
    """A crash inside a view (here: the portfolio selector raising with SQL and a path in its
    message) is answered 500 internal_error with no traceback, SQL or path in the body."""
    from portfolio import views

    def boom(*args, **kwargs):
        raise RuntimeError('SELECT secret FROM x; File "/work/main/portfolio/selectors.py"')

    monkeypatch.setattr(views.selectors, "portfolio_summary_get", boom)
    token, _user = sign_in(Client())
    client = bearer(token)
    client.raise_request_exception = False
    response = client.get("/api/v1/portfolio")
    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "message": "Internal server error.", "extra": {}}
    assert_no_leak(response)


# `manage.py check --deploy` under production settings is checked once, in
# tests/config/test_settings_modes.py::test_check_deploy_is_clean_under_production_settings.


SECRET_PATTERNS = {
    "private key block": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b"),
    "Solana keypair file": re.compile(r"^\s*\[\s*(?:\d{1,3}\s*,\s*){63}\d{1,3}\s*\]\s*$"),
    "session token": re.compile(r"\bsps_[A-Za-z0-9_-]{30,}\b"),
    "API-key secret": re.compile(r"\bspk_[A-Za-z0-9_-]{30,}\b"),
    "hard-coded SECRET_KEY": re.compile(r"SECRET_KEY\s*=\s*['\"](?!dev-only-insecure)[^'\"$]{20,}['\"]"),
    "password in a URL": re.compile(r"postgres(?:ql)?://[^:/\s@]+:(?!\$|\{|<)[^@\s/]{3,}@"),
}


# Documented throwaway credentials: the compose file's local database, docstring/test placeholders.
ALLOWED_SECRETS = ("postgres://solpaper:solpaper@", "postgres://trader:s%40cret@", "postgres://user:pass@")


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    skip = ("node_modules/", "static/vendor/", "package-lock.json")
    return [ROOT / name for name in listed if name and not name.startswith(skip)]


def test_no_secret_is_committed_to_the_repository():
    """No private key, cloud/VCS token, wallet keypair file, live session/API-key secret,
    hard-coded production SECRET_KEY or password-bearing database URL in any tracked file."""
    findings = []
    files = _repository_files()
    assert len(files) > 50
    for path in files:
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        for label, pattern in SECRET_PATTERNS.items():
            flags_text = text if label != "Solana keypair file" else text.strip()
            match = pattern.search(flags_text) if label != "Solana keypair file" else pattern.fullmatch(flags_text)
            if match and not match.group(0).startswith(ALLOWED_SECRETS):
                findings.append(f"{path.relative_to(ROOT)}: {label}: {match.group(0)[:40]}")
    assert findings == [], findings
