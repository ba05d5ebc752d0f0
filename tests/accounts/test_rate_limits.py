"""Rate limits on nonce and verify: per IP for everything, per address only for what a signature
proved; 429 + Retry-After; X-Forwarded-For not trusted."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.errors import RateLimited
from accounts.models import SignInNonce
from accounts.ratelimit import rate_limit_hit
from tests.accounts.helpers import NONCE_URL, VERIFY_URL, post_json, request_nonce, sign

pytestmark = pytest.mark.django_db

# Fixed windows start at multiples of their length: a long window keeps each test inside one
# (a 60 s window would now and then reset mid-test on a slow run).
WINDOW = 10**6


def nonce(client, body=None, **extra):
    return post_json(client, NONCE_URL, body or {}, **extra)


def test_nonce_per_ip_limit_with_retry_after(api_client, settings):
    """The (limit+1)th nonce request from one IP -> 429 rate_limited with Retry-After; nothing stored."""
    settings.AUTH_RATE_NONCE_IP = (3, WINDOW)
    for _ in range(3):
        assert nonce(api_client).status_code == 201
    refused = nonce(api_client)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= WINDOW
    assert refused.json()["extra"]["retry_after"] == int(refused["Retry-After"])
    assert SignInNonce.objects.count() == 3
    assert nonce(api_client, REMOTE_ADDR="10.9.9.9").status_code == 201  # another IP has its own quota


def test_forged_x_forwarded_for_does_not_reset_the_quota(api_client, settings):
    """Without a trusted proxy, a new X-Forwarded-For per request still counts against the socket IP."""
    settings.AUTH_RATE_NONCE_IP = (2, WINDOW)
    for i in range(2):
        assert nonce(api_client, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 201
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_trusted_proxy_count_uses_the_forwarded_address(api_client, settings):
    """With AUTH_TRUSTED_PROXY_COUNT=1 the last X-Forwarded-For hop is the client; spoofed left hops are ignored."""
    settings.AUTH_RATE_NONCE_IP = (1, WINDOW)
    settings.AUTH_TRUSTED_PROXY_COUNT = 1
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7").status_code == 201
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="2.2.2.2, 198.51.100.7").status_code == 429
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 201


def test_nonce_requests_naming_a_victims_address_do_not_lock_the_victim_out(settings):
    """Asking for a nonce proves nothing about the address named: nonces requested for a victim's
    address from many IPs (far past any per-address figure) use up only those IPs' quotas; the
    victim then gets a nonce from their own IP and signs in."""
    settings.AUTH_RATE_NONCE_IP = (2, WINDOW)
    victim = Keypair()
    address = str(victim.pubkey())
    for i in range(30):
        assert nonce(APIClient(), {"address": address}, REMOTE_ADDR=f"198.51.100.{i + 1}").status_code == 201
    issued = request_nonce(APIClient(), address, REMOTE_ADDR="203.0.113.77")
    signed = {"message": issued["message"], "signature": sign(victim, issued["message"])}
    assert post_json(APIClient(), VERIFY_URL, signed, REMOTE_ADDR="203.0.113.77").status_code == 200


def test_unsigned_verify_attempts_naming_a_victim_do_not_lock_the_victim_out(settings):
    """Verify attempts whose signature does not verify count against the caller's IP only: an
    attacker claiming the victim's address (bad signatures, from many IPs) is limited per IP
    (429 verify:ip) and leaves the victim's quota untouched; the victim signs in."""
    settings.AUTH_RATE_VERIFY_IP = (2, WINDOW)
    settings.AUTH_RATE_VERIFY_ADDRESS = (2, WINDOW)
    victim = Keypair()
    issued = request_nonce(APIClient(), str(victim.pubkey()), REMOTE_ADDR="203.0.113.5")
    forged = {"message": issued["message"], "signature": sign(Keypair(), issued["message"])}
    for i in range(10):
        assert post_json(APIClient(), VERIFY_URL, forged, REMOTE_ADDR=f"198.51.100.{i + 1}").status_code == 401
    attacker = APIClient()
    for _ in range(2):
        assert post_json(attacker, VERIFY_URL, forged, REMOTE_ADDR="198.51.100.200").status_code == 401
    refused = post_json(attacker, VERIFY_URL, forged, REMOTE_ADDR="198.51.100.200")
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "verify:ip"
    signed = {"message": issued["message"], "signature": sign(victim, issued["message"])}
    assert post_json(APIClient(), VERIFY_URL, signed, REMOTE_ADDR="203.0.113.5").status_code == 200


def test_replaying_a_used_signed_message_does_not_count_against_the_address(settings):
    """A signed message seen once (its nonce consumed) and replayed from many IPs is refused
    409 NONCE_REUSED every time and counts nothing for the address: the owner signs in again."""
    settings.AUTH_RATE_VERIFY_ADDRESS = (2, WINDOW)
    owner = Keypair()
    issued = request_nonce(APIClient(), str(owner.pubkey()))
    used = {"message": issued["message"], "signature": sign(owner, issued["message"])}
    assert post_json(APIClient(), VERIFY_URL, used).status_code == 200
    for i in range(5):
        replay = post_json(APIClient(), VERIFY_URL, used, REMOTE_ADDR=f"198.51.100.{i + 1}")
        assert replay.status_code == 409 and replay.json()["code"] == "NONCE_REUSED"
    again = request_nonce(APIClient(), str(owner.pubkey()))
    signed = {"message": again["message"], "signature": sign(owner, again["message"])}
    assert post_json(APIClient(), VERIFY_URL, signed).status_code == 200


def test_per_address_limit_counts_proven_sign_ins(settings):
    """Sign-ins a valid signature proved are limited per address, from any IP: past the limit
    429 verify:address with Retry-After, and the refused attempt consumes no nonce."""
    settings.AUTH_RATE_VERIFY_ADDRESS = (2, WINDOW)
    owner = Keypair()
    for i in range(2):
        issued = request_nonce(APIClient(), str(owner.pubkey()))
        signed = {"message": issued["message"], "signature": sign(owner, issued["message"])}
        assert post_json(APIClient(), VERIFY_URL, signed, REMOTE_ADDR=f"10.2.0.{i + 1}").status_code == 200
    issued = request_nonce(APIClient(), str(owner.pubkey()))
    signed = {"message": issued["message"], "signature": sign(owner, issued["message"])}
    refused = post_json(APIClient(), VERIFY_URL, signed, REMOTE_ADDR="10.2.0.50")
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "verify:address"
    assert 1 <= int(refused["Retry-After"]) <= WINDOW
    assert SignInNonce.objects.get(nonce=issued["nonce"]).consumed_at is None


def test_verify_per_ip_limit_counts_every_attempt(api_client, settings):
    """Every verify attempt counts against the caller's IP, failed or not; over the limit even a
    valid signature is refused (429 verify:ip) and consumes no nonce."""
    settings.AUTH_RATE_VERIFY_IP = (2, WINDOW)
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    bad = {"message": issued["message"], "signature": sign(keypair, "wrong")}
    for _ in range(2):
        assert post_json(api_client, VERIFY_URL, bad).status_code == 401
    good = {"message": issued["message"], "signature": sign(keypair, issued["message"])}
    refused = post_json(api_client, VERIFY_URL, good)
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "verify:ip"
    assert SignInNonce.objects.get().consumed_at is None


def test_window_rolls_over():
    """A fixed window: over the limit inside it, allowed again in the next one; Retry-After is the time left."""
    rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1000.0)
    with pytest.raises(RateLimited) as info:
        rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1003.2)
    assert info.value.headers["Retry-After"] == "7"
    rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1010.0)
