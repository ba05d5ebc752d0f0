#!/usr/bin/env python3
"""Sign in to the exchange from a Solana keypair file and print the session's account.

    .venv/bin/python examples/bot_sign_in.py --keypair ~/.config/solana/id.json --url http://127.0.0.1:8000
    .venv/bin/python examples/bot_sign_in.py --new-keypair bot.json           # make one first (solana-keygen format)
    .venv/bin/python examples/bot_sign_in.py --keypair bot.json --create-api-key trade

The keypair file is what ``solana-keygen new -o bot.json`` writes: a JSON array of 64 integers
(32-byte secret seed followed by the 32-byte public key). The flow is the one a wallet runs:
POST /api/v1/auth/nonce {address} -> sign the returned ``message`` (UTF-8 bytes, ed25519)
-> POST /api/v1/auth/verify -> Bearer token. The token is printed to stderr only with --show-token.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx
from solders.keypair import Keypair


def load_keypair(path: Path) -> Keypair:
    raw = json.loads(path.read_text())
    if not (isinstance(raw, list) and len(raw) == 64 and all(isinstance(b, int) and 0 <= b < 256 for b in raw)):
        raise SystemExit(f"{path}: not a solana-keygen keypair file (a JSON array of 64 bytes)")
    return Keypair.from_bytes(bytes(raw))


def write_keypair(path: Path) -> Keypair:
    keypair = Keypair()
    path.write_text(json.dumps(list(bytes(keypair))))
    path.chmod(0o600)
    return keypair


def _check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        try:
            error = response.json()
            detail = f"{error.get('code')}: {error.get('message')}"
        except ValueError:
            detail = response.text[:200]
        raise SystemExit(f"{response.request.method} {response.request.url.path} -> {response.status_code} {detail}")
    return response.json() if response.content else {}


def sign_in(http: httpx.Client, keypair: Keypair) -> dict:
    """Nonce -> sign -> verify; returns the verify response (token, expires_at, user)."""
    issued = _check(http.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}))
    message = issued["message"]
    signature = keypair.sign_message(message.encode("utf-8"))
    result = _check(http.post("/api/v1/auth/verify", json={"message": message, "signature": str(signature)}))
    http.cookies.clear()  # a bot authenticates with the Bearer token, not the browser cookie
    return result


def run(*, url: str, keypair: Keypair, create_api_key: str | None = None, timeout: float = 10.0) -> dict:
    with httpx.Client(base_url=url, timeout=timeout) as http:
        session = sign_in(http, keypair)
        auth = {"Authorization": f"Bearer {session['token']}"}
        account = _check(http.get("/api/v1/auth/me", headers=auth))
        out = {"account": account, "expires_at": session["expires_at"], "token": session["token"]}
        if create_api_key:
            scopes = ["read", "trade"] if create_api_key == "trade" else ["read"]
            out["api_key"] = _check(
                http.post("/api/v1/auth/api-keys", json={"name": "bot", "scopes": scopes}, headers=auth)
            )
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="exchange base URL")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--keypair", type=Path, help="solana-keygen JSON keypair file")
    group.add_argument("--new-keypair", type=Path, help="write a fresh keypair file here and sign in with it")
    parser.add_argument(
        "--create-api-key", choices=["read", "trade"], help="also create an API key (secret printed once)"
    )
    parser.add_argument("--show-token", action="store_true", help="print the session token to stderr")
    args = parser.parse_args(argv)
    keypair = write_keypair(args.new_keypair) if args.new_keypair else load_keypair(args.keypair)
    result = run(url=args.url, keypair=keypair, create_api_key=args.create_api_key)
    if args.show_token:
        print(f"export SOLPAPER_TOKEN={result['token']}", file=sys.stderr)
    printable = {key: value for key, value in result.items() if key != "token"}
    print(json.dumps(printable, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
