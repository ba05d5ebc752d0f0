"""The pure SIWS verifier: strict format, keys, signatures, times, issued fields."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from accounts.base58 import b58decode, b58encode
from accounts.siws import SignInError, SignInFields, build_message, parse_message, verify_sign_in

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
DOMAIN = "exchange.example.com"
SMALL_ORDER_KEYS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (order 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def issued_for(address: str = "", **overrides) -> dict:
    base = {
        "nonce": "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV",
        "domain": DOMAIN,
        "uri": f"https://{DOMAIN}",
        "statement": "Sign in to the exchange.",
        "chain_id": "mainnet",
        "address": address,
    }
    base.update(overrides)
    return base


def fields_for(keypair: Keypair, **overrides) -> SignInFields:
    issued = issued_for()
    values = {
        "domain": DOMAIN,
        "address": str(keypair.pubkey()),
        "statement": issued["statement"],
        "uri": issued["uri"],
        "version": "1",
        "chain_id": "mainnet",
        "nonce": issued["nonce"],
        "issued_at": iso(NOW - timedelta(seconds=30)),
        "expiration_time": iso(NOW + timedelta(minutes=4)),
    }
    values.update(overrides)
    return SignInFields(**values)


def signed(keypair: Keypair, **overrides) -> tuple[str, str]:
    message = build_message(fields_for(keypair, **overrides))
    return message, str(keypair.sign_message(message.encode()))


def verify(message, signature, *, public_key=None, domain=DOMAIN, now=NOW, issued=None):
    return verify_sign_in(
        message=message, signature=signature, public_key=public_key, expected_domain=domain, now=now, issued=issued
    )


def code_of(**kwargs) -> str:
    with pytest.raises(SignInError) as info:
        verify(**kwargs)
    return info.value.code


@pytest.fixture
def keypair():
    return Keypair()


def test_valid_message_verifies_and_returns_fields(keypair):
    """A wallet-built message signed by its address verifies; the parsed fields come back."""
    message, signature = signed(keypair)
    fields = verify(message, signature, issued=issued_for(str(keypair.pubkey())))
    assert fields.address == str(keypair.pubkey())
    assert fields.nonce == issued_for()["nonce"]
    assert fields.times["issued_at"] == NOW - timedelta(seconds=30)


def test_message_text_matches_the_wallet_standard_layout(keypair):
    """build_message prints the fixed Phantom/Wallet Standard layout: LF only, no trailing newline."""
    fields = fields_for(keypair, request_id="req-1", resources=("https://a.example/x", "ipfs://bafy"))
    expected = (
        f"{DOMAIN} wants you to sign in with your Solana account:\n{fields.address}\n\n"
        "Sign in to the exchange.\n\n"
        f"URI: https://{DOMAIN}\nVersion: 1\nChain ID: mainnet\nNonce: {fields.nonce}\n"
        f"Issued At: {fields.issued_at}\nExpiration Time: {fields.expiration_time}\n"
        "Request ID: req-1\nResources:\n- https://a.example/x\n- ipfs://bafy"
    )
    assert build_message(fields) == expected
    assert parse_message(expected) == fields


def test_minimal_message_without_statement_or_fields_parses(keypair):
    """Statement and field blocks are each omitted when empty."""
    text = f"{DOMAIN} wants you to sign in with your Solana account:\n{keypair.pubkey()}"
    assert parse_message(text).statement is None
    text2 = text + "\n\nNonce: abcdefgh12"
    assert parse_message(text2).nonce == "abcdefgh12"


@given(
    statement=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1)),
    request_id=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9._~-]{1,20}", fullmatch=True)),
    resources=st.one_of(
        st.none(), st.lists(st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9]{0,8}", fullmatch=True))
    ),
)
@settings(max_examples=60, deadline=None)
def test_parse_is_the_inverse_of_build(statement, request_id, resources):
    """Every message build_message produces parses back to the same fields."""
    stmt = statement if statement and not statement.startswith(("URI: ", "Version: ", "Nonce: ")) else None
    if stmt is not None and (stmt.strip() != stmt or stmt in {"Resources:"}):
        stmt = None
    fields = fields_for(
        Keypair.from_seed(bytes(32)),
        statement=stmt,
        request_id=request_id,
        resources=tuple(resources) if resources is not None else None,
    )
    assert parse_message(build_message(fields)) == fields


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda m: m.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda m: m + "\n", id="trailing-newline"),
        pytest.param(lambda m: m.replace("\n\nURI:", "\nURI:"), id="missing-blank-line"),
        pytest.param(lambda m: m.replace("Version: 1", "Version: 2"), id="version-2"),
        pytest.param(lambda m: m.replace("URI: ", "Uri: "), id="label-case"),
        pytest.param(lambda m: m.replace("URI: ", "URI:  "), id="double-space"),
        pytest.param(lambda m: m.replace("wants you", "wants  you"), id="header-spacing"),
        pytest.param(lambda m: m.replace("Solana account:", "Ethereum account:"), id="ethereum-header"),
        pytest.param(lambda m: m.replace("Version: 1\nChain ID: mainnet", "Chain ID: mainnet\nVersion: 1"), id="order"),
        pytest.param(lambda m: m + "\nNonce: again123", id="repeated-field"),
        pytest.param(lambda m: m + "\nExtra: field", id="unknown-field"),
        pytest.param(lambda m: m.replace("Sign in to the exchange.", "Sign in\tto"), id="control-char"),
        pytest.param(lambda m: " " + m, id="leading-space"),
        pytest.param(lambda m: m.replace("mainnet", "main net"), id="chain-space"),
    ],
)
def test_anything_looser_than_the_format_is_malformed(keypair, mutate):
    """CRLF, trailing newline, reordered/unknown/repeated fields or altered spacing -> MESSAGE_MALFORMED,
    even when the mutated text is itself correctly signed."""
    message, _ = signed(keypair)
    mutated = mutate(message)
    assert mutated != message
    signature = str(keypair.sign_message(mutated.encode()))
    assert code_of(message=mutated, signature=signature) == "MESSAGE_MALFORMED"


@pytest.mark.parametrize(
    "domain",
    ["exchange.example.com:443", "evil.example.com", "EXCHANGE.example.com", "exchange.example.com.evil.io"],
)
def test_domain_must_match_exactly_port_included(keypair, domain):
    """A message for another host, another port or another spelling -> DOMAIN_MISMATCH."""
    message, signature = signed(keypair, domain=domain)
    assert code_of(message=message, signature=signature) == "DOMAIN_MISMATCH"


def test_expected_domain_with_port(keypair):
    """localhost:8000 verifies against localhost:8000 but not localhost:8001 or localhost."""
    message, signature = signed(keypair, domain="localhost:8000")
    assert verify(message, signature, domain="localhost:8000").domain == "localhost:8000"
    assert code_of(message=message, signature=signature, domain="localhost:8001") == "DOMAIN_MISMATCH"
    assert code_of(message=message, signature=signature, domain="localhost") == "DOMAIN_MISMATCH"


def test_address_that_is_not_base58_or_not_32_bytes(keypair):
    """An address with 0/O/I/l or of the wrong length -> ADDRESS_INVALID."""
    for bad in ["0OIl" + str(keypair.pubkey())[4:], "3yZe7d", b58encode(bytes(33) + b"\x01")]:
        message, signature = signed(keypair, address=bad)
        assert code_of(message=message, signature=signature) == "ADDRESS_INVALID"


def test_address_and_signing_key_must_agree(keypair):
    """Signed by key B for a message naming address A -> ADDRESS_PUBKEY_MISMATCH."""
    other = Keypair()
    message, _ = signed(keypair)
    signature = str(other.sign_message(message.encode()))
    assert code_of(message=message, signature=signature, public_key=str(other.pubkey())) == "ADDRESS_PUBKEY_MISMATCH"


def test_wrong_key_without_public_key_is_signature_invalid(keypair):
    """Without public_key the address is the key: another key's signature -> SIGNATURE_INVALID."""
    message, _ = signed(keypair)
    signature = str(Keypair().sign_message(message.encode()))
    assert code_of(message=message, signature=signature) == "SIGNATURE_INVALID"


@pytest.mark.parametrize("hex_key", SMALL_ORDER_KEYS)
def test_small_order_keys_are_refused(hex_key):
    """The 4 small-order encodings (identity, order 2, 4, 8) -> PUBLIC_KEY_INVALID_POINT."""
    address = b58encode(bytes.fromhex(hex_key))
    message = build_message(fields_for(Keypair(), address=address))
    forged = bytes.fromhex(SMALL_ORDER_KEYS[0]) + bytes(32)  # R = identity, S = 0
    assert code_of(message=message, signature=b58encode(forged)) == "PUBLIC_KEY_INVALID_POINT"


def test_libsodium_itself_rejects_the_small_order_forgery():
    """libsodium's verify (PyNaCl) refuses the classic identity-key forgery too (belt and braces)."""
    with pytest.raises(BadSignatureError):
        VerifyKey(bytes.fromhex(SMALL_ORDER_KEYS[0])).verify(
            b"anything", bytes.fromhex(SMALL_ORDER_KEYS[0]) + bytes(32)
        )


def test_off_curve_key_is_refused():
    """A program-derived address (off the curve, no private key) -> PUBLIC_KEY_INVALID_POINT."""
    pda, _ = Pubkey.find_program_address([b"vault"], Pubkey.from_string("11111111111111111111111111111111"))
    assert not pda.is_on_curve()
    message = build_message(fields_for(Keypair(), address=str(pda)))
    assert code_of(message=message, signature=b58encode(bytes(64))) == "PUBLIC_KEY_INVALID_POINT"


@pytest.mark.parametrize("size", [63, 65, 0])
def test_signature_must_be_64_bytes(keypair, size):
    """63- or 65-byte signatures (base58 or base64) -> SIGNATURE_LENGTH."""
    message, signature = signed(keypair)
    raw = (b58decode(signature) + b"\x07")[:size] if size else b""
    if size == 0:
        assert code_of(message=message, signature=b"") == "SIGNATURE_LENGTH"
        return
    assert code_of(message=message, signature=b58encode(raw)) == "SIGNATURE_LENGTH"
    assert code_of(message=message, signature=base64.b64encode(raw).decode()) == "SIGNATURE_LENGTH"


@pytest.mark.parametrize("bad", ["not base58 at all!", "0OIl" * 21 + "0OI", "%%%", "a" * 301])
def test_non_base58_non_base64_signature(keypair, bad):
    """A signature in neither encoding -> SIGNATURE_ENCODING."""
    message, _ = signed(keypair)
    assert code_of(message=message, signature=bad) == "SIGNATURE_ENCODING"


def test_base64_signature_and_raw_bytes_are_accepted(keypair):
    """The same signature as base64 or raw bytes verifies."""
    message, signature = signed(keypair)
    raw = b58decode(signature)
    assert verify(message, base64.b64encode(raw).decode()).address == str(keypair.pubkey())
    assert verify(message, raw).address == str(keypair.pubkey())


def test_tampered_message_or_signature_is_invalid(keypair):
    """One flipped bit in the signature -> SIGNATURE_INVALID; so is a message that was not signed."""
    message, signature = signed(keypair)
    raw = bytearray(b58decode(signature))
    raw[10] ^= 1
    assert code_of(message=message, signature=b58encode(bytes(raw))) == "SIGNATURE_INVALID"
    other, _ = signed(keypair, nonce="ZZZZZZZZ12345678")
    assert code_of(message=other, signature=signature) == "SIGNATURE_INVALID"


def test_missing_nonce_and_issued_at(keypair):
    """No Nonce -> NONCE_MISSING; no Issued At -> ISSUED_AT_MISSING."""
    message, signature = signed(keypair, nonce=None)
    assert code_of(message=message, signature=signature) == "NONCE_MISSING"
    message, signature = signed(keypair, issued_at=None)
    assert code_of(message=message, signature=signature) == "ISSUED_AT_MISSING"


@pytest.mark.parametrize("value", ["2026-11-21 12:00:00Z", "yesterday", "2026-13-01T00:00:00Z", "2026-11-21T12:00:00"])
def test_issued_at_must_be_rfc3339(keypair, value):
    """A non-RFC 3339 Issued At -> ISSUED_AT_INVALID."""
    message, signature = signed(keypair, issued_at=value)
    assert code_of(message=message, signature=signature) == "ISSUED_AT_INVALID"


def test_issued_at_window_is_ten_minutes_either_way(keypair):
    """Issued At 11 minutes off in either direction -> ISSUED_AT_OUT_OF_WINDOW; 9 minutes is fine."""
    for delta in (timedelta(minutes=11), -timedelta(minutes=11)):
        message, signature = signed(keypair, issued_at=iso(NOW + delta), expiration_time=None)
        assert code_of(message=message, signature=signature) == "ISSUED_AT_OUT_OF_WINDOW"
    message, signature = signed(keypair, issued_at=iso(NOW - timedelta(minutes=9)), expiration_time=None)
    assert verify(message, signature).nonce


def test_offsets_are_honoured(keypair):
    """Issued At with a +05:30 offset is the same instant as in UTC."""
    message, signature = signed(keypair, issued_at="2026-11-21T17:29:00+05:30", expiration_time=None)
    assert verify(message, signature).times["issued_at"] == NOW - timedelta(minutes=1)


def test_expired_and_not_yet_valid(keypair):
    """now >= Expiration Time -> EXPIRED; now < Not Before -> NOT_YET_VALID; bad times -> TIME_INVALID."""
    message, signature = signed(keypair, expiration_time=iso(NOW - timedelta(seconds=1)))
    assert code_of(message=message, signature=signature) == "EXPIRED"
    message, signature = signed(keypair, not_before=iso(NOW + timedelta(minutes=1)))
    assert code_of(message=message, signature=signature) == "NOT_YET_VALID"
    message, signature = signed(keypair, not_before="soon")
    assert code_of(message=message, signature=signature) == "TIME_INVALID"
    message, signature = signed(keypair, expiration_time=iso(NOW - timedelta(minutes=5)))
    assert code_of(message=message, signature=signature) == "TIME_INVALID"  # expires before it was issued


def test_issued_fields_must_match(keypair):
    """Against what the server issued: other uri -> URI_MISMATCH, other chain -> CHAIN_ID_MISMATCH,
    other nonce -> NONCE_UNKNOWN, other statement -> MESSAGE_MALFORMED."""
    address = str(keypair.pubkey())
    cases = [
        ({"uri": "https://evil.example"}, "URI_MISMATCH"),
        ({"uri": None}, "URI_MISMATCH"),
        ({"chain_id": "devnet"}, "CHAIN_ID_MISMATCH"),
        ({"chain_id": None}, "CHAIN_ID_MISMATCH"),
        ({"nonce": "SomethingElse123"}, "NONCE_UNKNOWN"),
        ({"statement": "Send me your SOL"}, "MESSAGE_MALFORMED"),
    ]
    for overrides, code in cases:
        message, signature = signed(keypair, **overrides)
        assert code_of(message=message, signature=signature, issued=issued_for(address)) == code, overrides


def test_nonce_issued_for_another_address(keypair):
    """A nonce requested for address A cannot sign in address B."""
    message, signature = signed(keypair)
    issued = issued_for(str(Keypair().pubkey()))
    assert code_of(message=message, signature=signature, issued=issued) == "ADDRESS_PUBKEY_MISMATCH"


def test_unicode_statement_is_signed_as_utf8(keypair):
    """Non-ASCII statements are signed and verified as UTF-8 bytes."""
    message, signature = signed(keypair, statement="Connexion à l’échange ✓")
    assert verify(message, signature).statement == "Connexion à l’échange ✓"


def test_lone_surrogate_is_malformed(keypair):
    """Text that is not encodable as UTF-8 cannot have been signed -> MESSAGE_MALFORMED."""
    message, signature = signed(keypair)
    assert code_of(message=message.replace("exchange.", "exchange\ud800"), signature=signature) == "MESSAGE_MALFORMED"
