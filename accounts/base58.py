"""Strict Bitcoin-alphabet base58 (the Solana encoding). Pure, Django-free.

``b58decode`` refuses any character outside the alphabet (no whitespace, no
``0OIl``) and inputs longer than ``max_len`` characters, so a hostile string
cannot make the quadratic big-integer conversion expensive.
"""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(ALPHABET)}


class Base58Error(ValueError):
    """Not a base58 string."""


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str, *, max_len: int = 128) -> bytes:
    if not isinstance(text, str) or not text:
        raise Base58Error("empty or not a string")
    if len(text) > max_len:
        raise Base58Error("too long")
    number = 0
    for char in text:
        value = _INDEX.get(char)
        if value is None:
            raise Base58Error(f"invalid base58 character {char!r}")
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
