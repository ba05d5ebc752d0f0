"""Sign in over HTTP the way a wallet or a bot does: nonce -> sign -> verify.

Usable from any app's tests::

    token, user = sign_in(api_client)               # a new wallet
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

The client also keeps the session cookie the verify sets.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from solders.keypair import Keypair

from accounts.models import User
from accounts.siws import SignInFields, build_message

NONCE_URL = "/api/v1/auth/nonce"
VERIFY_URL = "/api/v1/auth/verify"


def random_ip() -> str:
    """A distinct client address per sign-in, so bulk sign-ins in one test stay under the per-IP limit."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def post_json(client, url: str, body: dict[str, Any], **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def request_nonce(client, address: str | None = None, **extra) -> dict[str, Any]:
    response = post_json(client, NONCE_URL, {"address": address} if address else {}, **extra)
    assert response.status_code == 201, response.content
    return response.json()


def message_for(issued: dict[str, Any], address: str, **overrides: Any) -> str:
    """The SIWS text for a nonce response, with optional field overrides (``None`` drops one)."""
    fields: dict[str, Any] = {
        "domain": issued["domain"],
        "address": address,
        "statement": issued["statement"] or None,
        "uri": issued["uri"],
        "version": issued["version"],
        "chain_id": issued["chain_id"],
        "nonce": issued["nonce"],
        "issued_at": issued["issued_at"],
        "expiration_time": issued["expiration_time"],
    }
    fields.update(overrides)
    return build_message(SignInFields(**fields))


def sign(keypair: Keypair, message: str) -> str:
    """Base58 signature of the message's UTF-8 bytes (what wallets return)."""
    return str(keypair.sign_message(message.encode("utf-8")))


def sign_in(client, keypair: Keypair | None = None, *, ip: str | None = None) -> tuple[str, User]:
    """Perform the real nonce -> sign -> verify flow; returns (bearer token, user)."""
    keypair = keypair or Keypair()
    address = str(keypair.pubkey())
    extra = {"REMOTE_ADDR": ip or random_ip()}
    issued = request_nonce(client, address, **extra)
    message = issued["message"]
    response = post_json(client, VERIFY_URL, {"message": message, "signature": sign(keypair, message)}, **extra)
    assert response.status_code == 200, response.content
    body = response.json()
    return body["token"], User.objects.get(pk=body["user"]["id"])


def create_api_key(user: User, scopes: tuple[str, ...] = ("read", "trade"), name: str = "bot") -> tuple[str, str]:
    """(key_id, secret) for a user, through the service."""
    from accounts.services import api_key_create

    key, secret = api_key_create(user=user, name=name, scopes=list(scopes))
    return key.key_id, secret
