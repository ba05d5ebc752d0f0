"""One nonce, many concurrent verifies: exactly one session (real threads, real PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from solders.keypair import Keypair

from accounts.models import AuthSession, SignInNonce, User
from tests.accounts.helpers import VERIFY_URL, post_json, request_nonce, sign


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_verifies_of_one_nonce_open_exactly_one_session(settings):
    """20 threads post the same signed message at once: one 200, nineteen 409 NONCE_REUSED, one session."""
    settings.AUTH_RATE_VERIFY_IP = (1000, 60)
    settings.AUTH_RATE_VERIFY_ADDRESS = (1000, 60)
    keypair = Keypair()
    issued = request_nonce(Client(), str(keypair.pubkey()))
    body = {"message": issued["message"], "signature": sign(keypair, issued["message"])}
    barrier = threading.Barrier(20)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            client = Client()
            barrier.wait()
            response = post_json(client, VERIFY_URL, body)
            payload = response.json()
            with lock:
                results.append((response.status_code, payload.get("code")))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(status for status, _ in results) == {200: 1, 409: 19}
    assert {code for status, code in results if status == 409} == {"NONCE_REUSED"}
    assert AuthSession.objects.count() == 1
    assert User.objects.filter(address=str(keypair.pubkey())).count() == 1
    nonce = SignInNonce.objects.get(nonce=issued["nonce"])
    assert nonce.consumed_at is not None and nonce.session_id == AuthSession.objects.get().pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sign_ins_of_one_wallet_make_one_user(settings):
    """Ten different nonces of the same new wallet verified at once: one user, ten sessions."""
    settings.AUTH_RATE_VERIFY_ADDRESS = (1000, 60)
    settings.AUTH_RATE_NONCE_ADDRESS = (1000, 60)
    keypair = Keypair()
    messages = [request_nonce(Client(), str(keypair.pubkey()))["message"] for _ in range(10)]
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def attempt(message: str) -> None:
        try:
            client = Client()
            barrier.wait()
            statuses.append(
                post_json(client, VERIFY_URL, {"message": message, "signature": sign(keypair, message)}).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    assert User.objects.filter(address=str(keypair.pubkey())).count() == 1
    assert AuthSession.objects.count() == 10
