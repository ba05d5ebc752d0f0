"""Rate limits on nonce and verify, per IP and per address: 429 + Retry-After, X-Forwarded-For not trusted."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.errors import RateLimited
from accounts.models import SignInNonce
from accounts.ratelimit import rate_limit_hit
from tests.accounts.helpers import NONCE_URL, VERIFY_URL, post_json, request_nonce, sign

pytestmark = pytest.mark.django_db


def nonce(client, body=None, **extra):
    return post_json(client, NONCE_URL, body or {}, **extra)


def test_nonce_per_ip_limit_with_retry_after(api_client, settings):
    """The (limit+1)th nonce request from one IP -> 429 rate_limited with Retry-After; nothing stored."""
    settings.AUTH_RATE_NONCE_IP = (3, 60)
    for _ in range(3):
        assert nonce(api_client).status_code == 201
    refused = nonce(api_client)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["extra"]["retry_after"] == int(refused["Retry-After"])
    assert SignInNonce.objects.count() == 3
    assert nonce(api_client, REMOTE_ADDR="10.9.9.9").status_code == 201  # another IP has its own quota


def test_forged_x_forwarded_for_does_not_reset_the_quota(api_client, settings):
    """Without a trusted proxy, a new X-Forwarded-For per request still counts against the socket IP."""
    settings.AUTH_RATE_NONCE_IP = (2, 60)
    for i in range(2):
        assert nonce(api_client, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 201
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_trusted_proxy_count_uses_the_forwarded_address(api_client, settings):
    """With AUTH_TRUSTED_PROXY_COUNT=1 the last X-Forwarded-For hop is the client; spoofed left hops are ignored."""
    settings.AUTH_RATE_NONCE_IP = (1, 60)
    settings.AUTH_TRUSTED_PROXY_COUNT = 1
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7").status_code == 201
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="2.2.2.2, 198.51.100.7").status_code == 429
    assert nonce(api_client, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 201


def test_nonce_per_address_limit(api_client, settings):
    """Per address: the same wallet from many IPs is limited too."""
    settings.AUTH_RATE_NONCE_ADDRESS = (2, 60)
    address = str(Keypair().pubkey())
    for i in range(2):
        assert nonce(api_client, {"address": address}, REMOTE_ADDR=f"10.0.0.{i + 1}").status_code == 201
    refused = nonce(api_client, {"address": address}, REMOTE_ADDR="10.0.0.50")
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "nonce:address"


def test_verify_per_ip_and_per_address_limits(api_client, settings):
    """Verify attempts are limited per IP and per address; refused attempts consume no nonce."""
    settings.AUTH_RATE_VERIFY_IP = (2, 60)
    keypair = Keypair()
    issued = request_nonce(api_client, str(keypair.pubkey()))
    bad = {"message": issued["message"], "signature": sign(keypair, "wrong")}
    for _ in range(2):
        assert post_json(api_client, VERIFY_URL, bad).status_code == 401
    good = {"message": issued["message"], "signature": sign(keypair, issued["message"])}
    refused = post_json(api_client, VERIFY_URL, good)
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "verify:ip"
    assert SignInNonce.objects.get().consumed_at is None

    settings.AUTH_RATE_VERIFY_IP = (100, 60)
    settings.AUTH_RATE_VERIFY_ADDRESS = (3, 60)  # 2 attempts above already counted for this address
    assert post_json(APIClient(), VERIFY_URL, bad, REMOTE_ADDR="10.1.1.1").status_code == 401
    refused = post_json(APIClient(), VERIFY_URL, good, REMOTE_ADDR="10.1.1.2")
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "verify:address"


def test_window_rolls_over():
    """A fixed window: over the limit inside it, allowed again in the next one; Retry-After is the time left."""
    rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1000.0)
    with pytest.raises(RateLimited) as info:
        rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1003.2)
    assert info.value.headers["Retry-After"] == "7"
    rate_limit_hit(scope="t", ident="x", rate=(1, 10), now=1010.0)
