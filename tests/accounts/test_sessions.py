"""Sessions: bearer + cookie, listing, deleting, logout, CSRF on cookies (login included), revoke hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session as DjangoSession
from django.utils import timezone
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.models import AuthSession
from accounts.selectors import session_is_active, user_from_token
from core import hooks
from tests.accounts.helpers import VERIFY_URL, post_json, request_nonce, sign, sign_in

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def revoked_events():
    """Every ``session_revoked`` hook call, recorded on its way to realtime's implementation."""
    events: list[dict] = []
    realtime = hooks.session_revoked.implementation

    def recording(*, user_id: int, session_id: str) -> None:
        events.append({"user_id": user_id, "session_id": session_id})
        realtime(user_id=user_id, session_id=session_id)

    with hooks.session_revoked.replaced(recording):
        yield events


def test_unauthenticated_requests_get_401(api_client):
    """No credentials -> 401 not_authenticated with a Bearer challenge."""
    response = api_client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_garbage_bearer_token_is_401(api_client):
    """An unknown token -> 401 authentication_failed (never anonymous)."""
    assert bearer("sps_nope").get("/api/v1/auth/me").json()["code"] == "authentication_failed"


def test_logout_invalidates_the_token(api_client, django_capture_on_commit_callbacks, revoked_events):
    """POST /auth/logout revokes the session: the token stops working, the signal fires after commit."""
    token, user = sign_in(api_client)
    client = bearer(token)
    session_id = user_from_token(token)[1]
    assert session_is_active(session_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    assert user_from_token(token) is None and not session_is_active(session_id)
    assert revoked_events == [{"user_id": user.pk, "session_id": session_id}]


def test_cookie_logout_needs_csrf_and_ends_the_cookie(api_client):
    """Cookie-authenticated logout without X-CSRFToken -> 403 csrf_failed; with it -> 204 and the cookie is dead."""
    client = APIClient(enforce_csrf_checks=True)
    keypair = Keypair()
    issued = request_nonce(client, str(keypair.pubkey()), HTTP_ORIGIN="http://testserver")
    csrf = client.cookies["csrftoken"].value
    response = post_json(
        client,
        VERIFY_URL,
        {"message": issued["message"], "signature": sign(keypair, issued["message"])},
        HTTP_X_CSRFTOKEN=csrf,
        HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 200, response.content
    assert client.get("/api/v1/auth/me").status_code == 200
    refused = client.post("/api/v1/auth/logout")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert client.get("/api/v1/auth/me").status_code == 200  # nothing changed
    csrf = client.cookies["csrftoken"].value
    assert client.post("/api/v1/auth/logout", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    assert not AuthSession.objects.filter(revoked_at__isnull=True).exists()


def test_cookie_login_requires_csrf(api_client):
    """A browser-like verify (Origin or cookies) without the CSRF token -> 403 csrf_failed; nonce not consumed.
    A cross-site Origin is refused even with a token."""
    client = APIClient(enforce_csrf_checks=True)
    keypair = Keypair()
    issued = request_nonce(client, str(keypair.pubkey()), HTTP_ORIGIN="http://testserver")
    body = {"message": issued["message"], "signature": sign(keypair, issued["message"])}
    refused = post_json(client, VERIFY_URL, body, HTTP_ORIGIN="http://testserver")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    csrf = client.cookies["csrftoken"].value
    cross = post_json(client, VERIFY_URL, body, HTTP_ORIGIN="https://evil.example", HTTP_X_CSRFTOKEN=csrf)
    assert cross.status_code == 403 and cross.json()["code"] == "csrf_failed"
    assert AuthSession.objects.count() == 0
    ok = post_json(client, VERIFY_URL, body, HTTP_ORIGIN="http://testserver", HTTP_X_CSRFTOKEN=csrf)
    assert ok.status_code == 200


def test_login_rotates_the_session_key(api_client):
    """The Django session key before sign-in is not the one after (session fixation)."""
    client = APIClient()
    client.cookies["sessionid"] = "attackerchosenkey0000000000000000"
    sign_in(client)
    assert client.cookies["sessionid"].value != "attackerchosenkey0000000000000000"
    assert DjangoSession.objects.filter(session_key=client.cookies["sessionid"].value).exists()


def test_sessions_list_and_delete(api_client, django_capture_on_commit_callbacks, revoked_events):
    """GET /auth/sessions lists mine (current flagged); DELETE one ends it and its cookie; others' are 404."""
    keypair = Keypair()
    token_a, user = sign_in(api_client, keypair)
    browser = APIClient()
    token_b, _ = sign_in(browser, keypair)
    client = bearer(token_a)
    listed = client.get("/api/v1/auth/sessions").json()
    assert len(listed) == 2
    session_b = user_from_token(token_b)[1]
    assert {row["id"] for row in listed if row["current"]} == {user_from_token(token_a)[1]}

    _, stranger = sign_in(APIClient())
    stranger_session = AuthSession.objects.get(user=stranger)
    assert client.delete(f"/api/v1/auth/sessions/{stranger_session.pk}").status_code == 404
    assert session_is_active(str(stranger_session.pk))

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/auth/sessions/{session_b}").status_code == 204
    assert bearer(token_b).get("/api/v1/auth/me").status_code == 401
    assert browser.get("/api/v1/auth/me").status_code == 401  # its cookie died with it
    assert client.get("/api/v1/auth/me").status_code == 200
    assert revoked_events == [{"user_id": user.pk, "session_id": session_b}]
    assert [row["id"] for row in client.get("/api/v1/auth/sessions").json()] == [user_from_token(token_a)[1]]


def test_expired_session_token_is_refused(api_client):
    """A session past expires_at no longer authenticates."""
    token, _ = sign_in(api_client)
    AuthSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(token).get("/api/v1/auth/me").status_code == 401
    assert user_from_token(token) is None


def test_session_ttl_is_configurable(api_client, settings):
    """AUTH_SESSION_TTL_SECONDS sets the expiry returned and stored."""
    settings.AUTH_SESSION_TTL_SECONDS = 3600
    sign_in(api_client)
    session = AuthSession.objects.get()
    assert session.expires_at - session.created_at == timedelta(hours=1)


def test_user_from_token_and_session_is_active_for_the_websocket_layer(api_client):
    """user_from_token maps a session token to (user, session id); junk maps to None."""
    token, user = sign_in(api_client)
    found_user, session_id = user_from_token(token)
    assert found_user == user and session_is_active(session_id)
    for junk in ("", "sps_x", "x" * 500, None):
        assert user_from_token(junk) is None
    assert not session_is_active("not-a-uuid") and not session_is_active("apikey-PKNOPE")


def test_a_bearer_session_is_touched_at_most_once_a_minute(api_client, django_assert_num_queries):
    """A session seen less than a minute ago authenticates without an UPDATE; once ``last_seen_at``
    is over a minute old the next request refreshes it."""
    token, _user = sign_in(api_client)
    bot = bearer(token)
    assert bot.get("/api/v1/auth/me").status_code == 200
    seen = AuthSession.objects.get().last_seen_at
    with django_assert_num_queries(1):
        assert bot.get("/api/v1/auth/me").status_code == 200
    assert AuthSession.objects.get().last_seen_at == seen
    old = timezone.now() - timedelta(minutes=5)
    AuthSession.objects.update(last_seen_at=old)
    assert bot.get("/api/v1/auth/me").status_code == 200
    assert AuthSession.objects.get().last_seen_at > old
