"""The examples/ bot signs in from a solana-keygen keypair file against a live server."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from accounts.models import ApiKey, AuthSession

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bot_sign_in.py"


def load_example():
    spec = importlib.util.spec_from_file_location("bot_sign_in", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_bot_signs_in_from_a_keypair_file_and_prints_its_account(live_server, tmp_path, capsys):
    """A keypair file in solana-keygen format (64-byte JSON array) signs in over real HTTP; the account is printed."""
    keypair = Keypair()
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(keypair))))
    bot = load_example()
    assert bot.main(["--url", live_server.url, "--keypair", str(path), "--create-api-key", "read"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["account"]["user"]["address"] == str(keypair.pubkey())
    assert printed["account"]["auth"]["kind"] == "session"
    assert printed["api_key"]["scopes"] == ["read"] and "token" not in printed
    assert AuthSession.objects.filter(user__address=str(keypair.pubkey())).count() == 1
    assert ApiKey.objects.filter(user__address=str(keypair.pubkey())).count() == 1


def test_keypair_file_must_be_64_bytes(tmp_path):
    """A file that is not a 64-byte JSON array is refused with a message."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([1, 2, 3]))
    with pytest.raises(SystemExit, match="not a solana-keygen keypair file"):
        load_example().load_keypair(path)
