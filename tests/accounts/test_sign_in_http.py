"""Sign-In With Solana over HTTP with real ed25519 keypairs: nonce -> sign -> verify."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.models import AuthSession, SignInNonce, User
from accounts.siws import parse_message
from tests.accounts.helpers import (
    NONCE_URL,
    VERIFY_URL,
    message_for,
    post_json,
    request_nonce,
    sign,
    sign_in,
)

pytestmark = pytest.mark.django_db


def verify(client, message, signature, **body):
    return post_json(client, VERIFY_URL, {"message": message, "signature": signature, **body})


def assert_refused(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "extra"}


def state():
    """Everything a refused sign-in must leave untouched."""
    return (
        User.objects.count(),
        AuthSession.objects.count(),
        SignInNonce.objects.filter(consumed_at__isnull=False).count(),
    )


def test_nonce_without_address_returns_the_sign_in_input(api_client):
    """POST /auth/nonce hands out domain, uri, statement, version 1, chain id, a 128-bit+ nonce and times."""
    body = request_nonce(api_client)
    assert body["domain"] == "testserver"
    assert body["uri"] == "http://testserver"
    assert body["version"] == "1" and body["chain_id"] == "mainnet" and body["statement"]
    assert body["nonce"].isalnum() and len(body["nonce"]) >= 22  # 62**22 > 2**128
    assert "message" not in body
    row = SignInNonce.objects.get(nonce=body["nonce"])
    assert row.expires_at - row.issued_at == timedelta(minutes=5)
    assert body["expiration_time"].endswith("Z")


def test_nonce_with_address_includes_the_exact_message(api_client):
    """With an address the response carries the exact text to sign, built from the same input."""
    keypair = Keypair()
    body = request_nonce(api_client, str(keypair.pubkey()))
    assert body["message"] == message_for(body, str(keypair.pubkey()))
    fields = parse_message(body["message"])
    assert fields.nonce == body["nonce"] and fields.address == str(keypair.pubkey())


def test_nonce_with_invalid_address_is_refused(api_client):
    """A non-base58 address -> 400 ADDRESS_INVALID; no nonce stored."""
    response = post_json(api_client, NONCE_URL, {"address": "not-an-address"})
    assert_refused(response, 400, "ADDRESS_INVALID")
    assert SignInNonce.objects.count() == 0


def test_full_sign_in_creates_user_session_and_cookie(api_client):
    """A fresh wallet signs in: user created lazily, session opened, token and HttpOnly cookie returned."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    response = verify(api_client, issued["message"], sign(keypair, issued["message"]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["address"] == str(keypair.pubkey())
    assert body["token"].startswith("sps_")
    session = AuthSession.objects.get(user__address=str(keypair.pubkey()))
    assert session.token_hash != body["token"] and body["token"] not in session.token_hash
    assert session.expires_at - session.created_at == timedelta(days=7)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    user = User.objects.get(address=str(keypair.pubkey()))
    assert user.username == user.address and not user.has_usable_password()
    assert user.first_sign_in_at is not None and user.last_sign_in_at == user.first_sign_in_at


def test_bearer_token_and_cookie_both_authenticate_me(api_client):
    """GET /auth/me works with the bearer token (fresh client) and with the cookie (same client)."""
    token, user = sign_in(api_client)
    cookie_me = api_client.get("/api/v1/auth/me")
    assert cookie_me.status_code == 200 and cookie_me.json()["auth"]["kind"] == "cookie"
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    me = bearer.get("/api/v1/auth/me").json()
    assert me["user"]["address"] == user.address
    assert me["auth"]["kind"] == "session" and me["auth"]["scopes"] == ["read", "trade"]


def test_second_sign_in_reuses_the_user(api_client):
    """The same wallet signing in twice is one user with two sessions; last sign-in moves."""
    keypair = Keypair()
    _, first = sign_in(api_client, keypair)
    _, second = sign_in(APIClient(), keypair)
    assert first.pk == second.pk
    assert AuthSession.objects.filter(user=first).count() == 2
    second.refresh_from_db()
    assert second.last_sign_in_at >= second.first_sign_in_at


def test_replayed_nonce_is_refused(api_client):
    """The same signed message a second time -> 409 NONCE_REUSED; no second session."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    signature = sign(keypair, issued["message"])
    assert verify(api_client, issued["message"], signature).status_code == 200
    before = state()
    assert_refused(verify(APIClient(), issued["message"], signature), 409, "NONCE_REUSED")
    assert state() == before


def test_unknown_nonce_is_refused(api_client):
    """A well-signed message with a nonce this server never issued -> 401 NONCE_UNKNOWN."""
    keypair = Keypair()
    issued = request_nonce(api_client)
    message = message_for(issued, str(keypair.pubkey()), nonce="NeverIssuedByTheServer123")
    before = state()
    assert_refused(verify(api_client, message, sign(keypair, message)), 401, "NONCE_UNKNOWN")
    assert state() == before


def test_nonce_expired_server_side(api_client):
    """A nonce past its server-side expiry -> 401 EXPIRED even if the message omits Expiration Time."""
    keypair = Keypair()
    issued = request_nonce(api_client)
    SignInNonce.objects.filter(nonce=issued["nonce"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    message = message_for(issued, str(keypair.pubkey()), expiration_time=None)
    before = state()
    assert_refused(verify(api_client, message, sign(keypair, message)), 401, "EXPIRED")
    assert state() == before


def test_message_expired_and_not_yet_valid(api_client):
    """Expiration Time in the past -> EXPIRED; Not Before in the future -> NOT_YET_VALID; nothing consumed."""
    keypair = Keypair()
    issued = request_nonce(api_client)
    now = timezone.now()
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    expired = message_for(
        issued,
        str(keypair.pubkey()),
        issued_at=(now - timedelta(minutes=3)).strftime(fmt),
        expiration_time=(now - timedelta(minutes=1)).strftime(fmt),
    )
    assert_refused(verify(api_client, expired, sign(keypair, expired)), 401, "EXPIRED")
    early = message_for(issued, str(keypair.pubkey()), not_before=(now + timedelta(minutes=2)).strftime(fmt))
    assert_refused(verify(api_client, early, sign(keypair, early)), 401, "NOT_YET_VALID")
    assert SignInNonce.objects.get(nonce=issued["nonce"]).consumed_at is None
    good = message_for(issued, str(keypair.pubkey()))
    assert verify(api_client, good, sign(keypair, good)).status_code == 200  # the nonce still works


@pytest.mark.parametrize("domain", ["evil.example", "testserver:8000", "testserver:80"])
def test_wrong_domain_or_port(api_client, domain):
    """A message for another domain or another port -> 401 DOMAIN_MISMATCH."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    message = message_for(issued, str(keypair.pubkey()), domain=domain)
    assert_refused(verify(api_client, message, sign(keypair, message)), 401, "DOMAIN_MISMATCH")


def test_configured_domain_with_port(api_client, settings):
    """With SIWS_DOMAIN=localhost:8000 the issued domain carries the port and must match exactly."""
    settings.SIWS_DOMAIN = "localhost:8000"
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    assert issued["message"].startswith("localhost:8000 wants you")
    message = message_for(issued, str(keypair.pubkey()), domain="localhost:8001")
    assert_refused(verify(api_client, message, sign(keypair, message)), 401, "DOMAIN_MISMATCH")
    assert verify(api_client, issued["message"], sign(keypair, issued["message"])).status_code == 200


@pytest.mark.parametrize("mutate", [lambda m: m.replace("\n", "\r\n"), lambda m: m + "\n"], ids=["crlf", "newline"])
def test_crlf_and_trailing_newline(api_client, mutate):
    """CRLF line breaks or a trailing newline -> 400 MESSAGE_MALFORMED, even when signed as sent."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    message = mutate(issued["message"])
    before = state()
    assert_refused(verify(api_client, message, sign(keypair, message)), 400, "MESSAGE_MALFORMED")
    assert state() == before


def test_address_key_mismatch(api_client):
    """public_key differing from the message's address -> 401 ADDRESS_PUBKEY_MISMATCH."""
    keypair, other = Keypair(), Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    response = verify(api_client, issued["message"], sign(other, issued["message"]), public_key=str(other.pubkey()))
    assert_refused(response, 401, "ADDRESS_PUBKEY_MISMATCH")


def test_nonce_bound_to_another_address(api_client):
    """A nonce requested for wallet A cannot be used by wallet B."""
    a, b = Keypair(), Keypair()
    issued = request_nonce(api_client, str(a.pubkey()))
    message = message_for(issued, str(b.pubkey()))
    assert_refused(verify(api_client, message, sign(b, message)), 401, "ADDRESS_PUBKEY_MISMATCH")


def test_small_order_and_off_curve_keys(api_client):
    """Messages naming a small-order or off-curve key -> 401 PUBLIC_KEY_INVALID_POINT."""
    from solders.pubkey import Pubkey

    from accounts.base58 import b58encode

    issued = request_nonce(api_client)
    identity = b58encode(bytes.fromhex("01" + "00" * 31))
    pda, _ = Pubkey.find_program_address([b"x"], Pubkey.from_string("11111111111111111111111111111111"))
    for address in (identity, str(pda)):
        message = message_for(issued, address)
        forged = b58encode(bytes.fromhex("01" + "00" * 31) + bytes(32))
        assert_refused(verify(api_client, message, forged), 401, "PUBLIC_KEY_INVALID_POINT")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "signature,code",
    [
        ("!!not-base58!!", "SIGNATURE_ENCODING"),
        ("1" * 63, "SIGNATURE_LENGTH"),  # 63 zero bytes in base58
        ("1" * 65, "SIGNATURE_LENGTH"),
    ],
)
def test_bad_signature_encodings(api_client, signature, code):
    """Non-base58 signatures and 63/65-byte ones -> 400 with SIGNATURE_ENCODING / SIGNATURE_LENGTH."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    assert_refused(verify(api_client, issued["message"], signature), 400, code)


def test_truncated_and_extended_real_signature(api_client):
    """A real signature cut to 63 bytes or padded to 65 -> SIGNATURE_LENGTH (base64 too)."""
    import base64

    from accounts.base58 import b58decode, b58encode

    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    raw = b58decode(sign(keypair, issued["message"]))
    for candidate in (b58encode(raw[:63]), b58encode(raw + b"\0"), base64.b64encode(raw[:63]).decode()):
        assert_refused(verify(api_client, issued["message"], candidate), 400, "SIGNATURE_LENGTH")
    ok = verify(api_client, issued["message"], base64.b64encode(raw).decode())
    assert ok.status_code == 200  # base64 of the real signature is fine


def test_invalid_signature(api_client):
    """A signature over another text -> 401 SIGNATURE_INVALID; nothing changes."""
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    before = state()
    assert_refused(verify(api_client, issued["message"], sign(keypair, "other text")), 401, "SIGNATURE_INVALID")
    assert state() == before


def test_missing_fields_are_validation_errors(api_client):
    """No message/signature -> 400 validation_error naming the fields."""
    response = post_json(api_client, VERIFY_URL, {})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"message", "signature"}


def test_disabled_account_cannot_sign_in(api_client):
    """A deactivated user -> 403 account_disabled; the nonce stays unconsumed."""
    keypair = Keypair()
    User.objects.create_user(str(keypair.pubkey()), address=str(keypair.pubkey()), is_active=False)
    issued = request_nonce(api_client, str(keypair.pubkey()))
    response = verify(api_client, issued["message"], sign(keypair, issued["message"]))
    assert_refused(response, 403, "account_disabled")
    assert SignInNonce.objects.get(nonce=issued["nonce"]).consumed_at is None
    assert AuthSession.objects.count() == 0
