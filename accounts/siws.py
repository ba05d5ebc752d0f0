"""Sign-In With Solana (Wallet Standard ``solana:signIn``, Phantom's SIWS spec). Pure, Django-free.

``build_message`` renders the text wallets sign; ``parse_message`` reads it back strictly and
only accepts a text that ``build_message`` rebuilds byte for byte (LF only, no trailing newline,
fields in the fixed order, empty fields omitted); ``verify_sign_in`` checks everything a relying
party must check and raises ``SignInError`` with a stable ``code``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from accounts.base58 import Base58Error, b58decode

HEADER_SUFFIX = " wants you to sign in with your Solana account:"
# (label, attribute) in the fixed order of the spec; "Resources:" follows them.
FIELDS: tuple[tuple[str, str], ...] = (
    ("URI", "uri"),
    ("Version", "version"),
    ("Chain ID", "chain_id"),
    ("Nonce", "nonce"),
    ("Issued At", "issued_at"),
    ("Expiration Time", "expiration_time"),
    ("Not Before", "not_before"),
    ("Request ID", "request_id"),
)
DEFAULT_MAX_SKEW = timedelta(minutes=10)
SIGNATURE_BYTES = 64

# RFC 3986 authority as wallets send it: host (name, IPv4 or [IPv6]) and an optional port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*")
_NONCE = re.compile(r"[A-Za-z0-9]{8,128}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9:_-]{1,64}")
_REQUEST_ID = re.compile(r"[!$%&'()*+,\-.0-9:;=@A-Z_a-z~]{1,256}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_MAX_MESSAGE_CHARS = 4096


class SignInError(Exception):
    """A sign-in was refused; ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class SignInFields:
    """The parsed message. Times stay the exact strings that were signed."""

    domain: str
    address: str
    statement: str | None = None
    uri: str | None = None
    version: str | None = None
    chain_id: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None
    # Filled by verify_sign_in: the decoded times.
    times: dict[str, datetime] = field(default_factory=dict, compare=False)


def build_message(fields: SignInFields) -> str:
    """The exact text a wallet signs for these fields (createSignInMessageText)."""
    text = f"{fields.domain}{HEADER_SUFFIX}\n{fields.address}"
    if fields.statement:
        text += f"\n\n{fields.statement}"
    lines = [f"{label}: {getattr(fields, attr)}" for label, attr in FIELDS if getattr(fields, attr)]
    if fields.resources is not None:
        lines.append("Resources:")
        lines.extend(f"- {resource}" for resource in fields.resources)
    if lines:
        text += "\n\n" + "\n".join(lines)
    return text


def _malformed(why: str) -> SignInError:
    return SignInError("MESSAGE_MALFORMED", f"The sign-in message is malformed: {why}.")


def _is_field_line(line: str) -> bool:
    return line == "Resources:" or any(line.startswith(f"{label}: ") for label, _ in FIELDS)


def _check_printable(value: str, what: str) -> None:
    if not value or not value.isprintable():
        raise _malformed(f"{what} is empty or holds control characters")


def parse_message(message: str) -> SignInFields:
    """Parse strictly; raises MESSAGE_MALFORMED unless the text rebuilds byte for byte."""
    lines = _message_lines(message)
    domain, address = _header(lines)
    statement, values = _body(lines[2:])
    fields = SignInFields(domain=domain, address=address, statement=statement, **values)
    _check_values(fields)
    if build_message(fields) != message:
        raise _malformed("the text does not rebuild byte for byte")
    return fields


def _message_lines(message: str) -> list[str]:
    """The message's lines, once the text itself is sane (size, UTF-8, LF only, no trailing newline)."""
    if not isinstance(message, str) or not message:
        raise _malformed("empty")
    if len(message) > _MAX_MESSAGE_CHARS:
        raise _malformed("too long")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _malformed("not valid UTF-8 text") from exc
    if "\r" in message:
        raise _malformed("line breaks must be LF only (no CR)")
    if message.endswith("\n"):
        raise _malformed("trailing newline")
    return message.split("\n")


def _header(lines: list[str]) -> tuple[str, str]:
    """``<domain> wants you to sign in with your Solana account:`` then the address line."""
    if len(lines) < 2 or not lines[0].endswith(HEADER_SUFFIX):
        raise _malformed("the first line must be '<domain> wants you to sign in with your Solana account:'")
    domain = lines[0][: -len(HEADER_SUFFIX)]
    if not _DOMAIN.fullmatch(domain):
        raise _malformed("the domain is not a host[:port] authority")
    address = lines[1]
    if not address or any(ch.isspace() for ch in address) or not address.isprintable():
        raise _malformed("the address line is empty or holds whitespace")
    return domain, address


def _body(rest: list[str]) -> tuple[str | None, dict[str, Any]]:
    """After the address: an optional statement, then the known fields in their order."""
    statement = None
    if not rest:
        return statement, {}
    if rest[0] != "" or len(rest) < 2:
        raise _malformed("an empty line must separate the address from what follows")
    rest = rest[1:]
    if not _is_field_line(rest[0]):
        statement = rest[0]
        _check_printable(statement, "the statement")
        rest = rest[1:]
        if rest:
            if rest[0] != "" or len(rest) < 2:
                raise _malformed("an empty line must separate the statement from the fields")
            rest = rest[1:]
    return statement, _field_lines(rest)


def _field_lines(rest: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    position = 0
    for label, attr in FIELDS:
        prefix = f"{label}: "
        if position < len(rest) and rest[position].startswith(prefix):
            value = rest[position][len(prefix) :]
            _check_printable(value, label)
            values[attr] = value
            position += 1
    if position < len(rest) and rest[position] == "Resources:":
        position += 1
        resources = []
        while position < len(rest) and rest[position].startswith("- "):
            resource = rest[position][2:]
            if not _URI.fullmatch(resource):
                raise _malformed("a resource is not a URI")
            resources.append(resource)
            position += 1
        values["resources"] = tuple(resources)
    if position != len(rest):
        raise _malformed(f"unexpected line {rest[position][:40]!r} (unknown, repeated or out-of-order field)")
    return values


def _check_values(fields: SignInFields) -> None:
    if fields.uri is not None and not _URI.fullmatch(fields.uri):
        raise _malformed("URI is not an RFC 3986 URI")
    if fields.version is not None and fields.version != "1":
        raise _malformed("Version must be 1")
    if fields.chain_id is not None and not _CHAIN_ID.fullmatch(fields.chain_id):
        raise _malformed("Chain ID holds characters outside [A-Za-z0-9:_-]")
    if fields.nonce is not None and not _NONCE.fullmatch(fields.nonce):
        raise _malformed("Nonce must be 8 to 128 alphanumeric characters")
    if fields.request_id is not None and not _REQUEST_ID.fullmatch(fields.request_id):
        raise _malformed("Request ID holds characters outside the URI pchar set")


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError otherwise."""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
    if not zulu and (int(off_h) > 23 or int(off_m) > 59):
        raise ValueError("bad offset")
    tz = timezone(-offset if sign == "-" else offset)
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz)
    return moment.astimezone(timezone.utc)


def decode_public_key(value: str, *, code: str = "ADDRESS_INVALID") -> bytes:
    try:
        raw = b58decode(value, max_len=64)
    except Base58Error as exc:
        raise SignInError(code, f"{value[:64]!r} is not base58: {exc}.") from exc
    if len(raw) != 32:
        raise SignInError(code, f"A Solana address decodes to 32 bytes, not {len(raw)}.")
    return raw


def decode_signature(signature: str | bytes) -> bytes:
    """Raw bytes, base58 or (standard, padded) base64; 64 bytes exactly."""
    if isinstance(signature, (bytes, bytearray)):
        raw = bytes(signature)
    elif isinstance(signature, str) and signature:
        candidates: list[bytes] = []
        try:
            candidates.append(b58decode(signature, max_len=256))
        except Base58Error:
            pass
        try:
            candidates.append(base64.b64decode(signature, validate=True))
        except (binascii.Error, ValueError):
            pass
        if not candidates:
            raise SignInError("SIGNATURE_ENCODING", "The signature is neither base58 nor base64.")
        raw = next((c for c in candidates if len(c) == SIGNATURE_BYTES), candidates[0])
    else:
        raise SignInError("SIGNATURE_ENCODING", "The signature must be a base58 or base64 string.")
    if len(raw) != SIGNATURE_BYTES:
        raise SignInError("SIGNATURE_LENGTH", f"An ed25519 signature is 64 bytes, not {len(raw)}.")
    return raw


def _time(fields: SignInFields, attr: str, code: str) -> datetime | None:
    value = getattr(fields, attr)
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except (ValueError, OverflowError) as exc:
        raise SignInError(code, f"{attr} {value!r} is not an RFC 3339 date-time.") from exc


def verify_sign_in(
    *,
    message: str,
    signature: str | bytes,
    public_key: str | None,
    expected_domain: str,
    now: datetime,
    issued: dict | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> SignInFields:
    """Verify a signed SIWS message; returns the parsed fields or raises ``SignInError``.

    ``issued`` is what the server handed out for this nonce (keys ``uri``, ``chain_id``,
    ``nonce``, ``statement`` and optionally ``domain``, ``address``): they must match.
    """
    fields = parse_message(message)
    if fields.domain != expected_domain:
        raise SignInError("DOMAIN_MISMATCH", f"The message is for {fields.domain!r}, not {expected_domain!r}.")
    if not fields.nonce:
        raise SignInError("NONCE_MISSING", "The message carries no Nonce.")
    if not fields.issued_at:
        raise SignInError("ISSUED_AT_MISSING", "The message carries no Issued At.")
    _check_signature(fields, message=message, signature=signature, public_key=public_key)
    _check_times(fields, now=now, max_skew=max_skew)
    if issued is not None:
        _check_issued(fields, issued)
    return fields


def _check_signature(fields: SignInFields, *, message: str, signature: str | bytes, public_key: str | None) -> None:
    """The key is the message's address, a valid ed25519 point, and the signature verifies."""
    address_bytes = decode_public_key(fields.address)
    key_bytes = address_bytes if public_key is None else decode_public_key(public_key)
    if key_bytes != address_bytes:
        raise SignInError("ADDRESS_PUBKEY_MISMATCH", "The signing key is not the message's address.")
    if not crypto_core_ed25519_is_valid_point(key_bytes):
        raise SignInError(
            "PUBLIC_KEY_INVALID_POINT", "The key is not a valid ed25519 point (off-curve or small order)."
        )
    raw_signature = decode_signature(signature)
    try:
        VerifyKey(key_bytes).verify(message.encode("utf-8"), raw_signature)
    except (BadSignatureError, ValueError) as exc:
        raise SignInError("SIGNATURE_INVALID", "The signature does not verify for this message and key.") from exc


def _check_times(fields: SignInFields, *, now: datetime, max_skew: timedelta) -> None:
    """Issued At within the skew of the server's clock, not expired, not before Not Before; the
    parsed times are kept in ``fields.times``."""
    issued_at = _time(fields, "issued_at", "ISSUED_AT_INVALID")
    expiration = _time(fields, "expiration_time", "TIME_INVALID")
    not_before = _time(fields, "not_before", "TIME_INVALID")
    assert issued_at is not None
    if abs(now - issued_at) > max_skew:
        raise SignInError("ISSUED_AT_OUT_OF_WINDOW", f"Issued At must be within {max_skew} of the server's clock.")
    if expiration is not None and expiration <= issued_at:
        raise SignInError("TIME_INVALID", "Expiration Time is not after Issued At.")
    if expiration is not None and now >= expiration:
        raise SignInError("EXPIRED", "The sign-in message has expired.")
    if not_before is not None and now < not_before:
        raise SignInError("NOT_YET_VALID", "The sign-in message is not valid yet (Not Before).")
    fields.times.update({"issued_at": issued_at})
    if expiration is not None:
        fields.times["expiration_time"] = expiration
    if not_before is not None:
        fields.times["not_before"] = not_before


def _check_issued(fields: SignInFields, issued: dict) -> None:
    """The message carries what the server issued for this nonce."""
    if issued.get("domain") is not None and fields.domain != issued["domain"]:
        raise SignInError("DOMAIN_MISMATCH", "The message's domain is not the one issued.")
    if issued.get("address") and fields.address != issued["address"]:
        raise SignInError("ADDRESS_PUBKEY_MISMATCH", "The nonce was issued for another address.")
    if fields.nonce != issued.get("nonce"):
        raise SignInError("NONCE_UNKNOWN", "The message's nonce is not the one issued.")
    if fields.uri != (issued.get("uri") or None):
        raise SignInError("URI_MISMATCH", f"URI must be {issued.get('uri')!r}.")
    if fields.chain_id != (issued.get("chain_id") or None):
        raise SignInError("CHAIN_ID_MISMATCH", f"Chain ID must be {issued.get('chain_id')!r}.")
    if fields.statement != (issued.get("statement") or None):
        raise _malformed("the statement is not the one issued")
