"""Kraken: ``GET /0/public/Ticker?pair=SOLUSD,BONKUSD`` (many pairs per request). Errors come
with HTTP 200 in the ``error`` list (an unknown pair fails the whole request:
``EQuery:Unknown asset pair``, so ``pricing.fetch`` asks again one pair per request). The
``result`` object is keyed by Kraken's own pair names, which may differ from the altname asked
for (``XBTUSD`` answers as ``XXBTZUSD``: X-prefixed base, Z-prefixed fiat quote); each entry's
``a``/``b``/``c`` arrays start with the ask, bid and last trade price."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pricing.sources.base import (
    HttpRequestSpec,
    Observation,
    PriceSource,
    Reading,
    SourceError,
    mid_or_last,
    per_instrument,
    short,
    to_decimal,
)

FIAT = ("USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD")


def _first(entry: dict[str, Any], key: str) -> Any:
    value = entry.get(key)
    if not isinstance(value, list) or not value:
        raise SourceError(f"Kraken field {key!r} is not a non-empty array")
    return value[0]


def altname(key: str) -> str:
    """Kraken's legacy pair name as its altname: ``XXBTZUSD`` -> ``XBTUSD``, ``XETHZEUR`` ->
    ``XETHEUR`` -> ``ETHEUR``; any other name is its own altname."""
    for fiat in FIAT:
        legacy = "Z" + fiat
        if key.endswith(legacy) and len(key) == 4 + len(legacy) and key.startswith("X"):
            return key[1:4] + fiat
    return key


def match_pairs(ids: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """Requested pair -> result key: the same name, or the key whose altname it is; with a single
    pair asked and a single entry answered, that entry (Kraken answers only what was asked)."""
    found: dict[str, str] = {}
    by_alt = {altname(k): k for k in keys}
    for pair in ids:
        if pair in keys:
            found[pair] = pair
        elif pair in by_alt:
            found[pair] = by_alt[pair]
    if len(ids) == 1 and not found and len(keys) == 1:
        found[ids[0]] = keys[0]
    return found


class KrakenTicker(PriceSource):
    name = "kraken"
    quote = "USD"
    default_url = "https://api.kraken.com"
    batch_size = 50

    def request(self, ids: Sequence[str]) -> HttpRequestSpec:
        return HttpRequestSpec("/0/public/Ticker", [("pair", ",".join(ids))], {})

    def _observation(self, entry: Any, received_at: datetime) -> Observation:
        if not isinstance(entry, dict):
            raise SourceError("Kraken pair entry is not an object")
        ask = to_decimal(_first(entry, "a"), "a[0]")
        bid = to_decimal(_first(entry, "b"), "b[0]")
        last = to_decimal(_first(entry, "c"), "c[0]")
        return Observation(
            source=self.name, price=mid_or_last(bid, ask, last), quote="USD", bid=bid, ask=ask, received_at=received_at
        )

    def parse_body(self, payload: Any, *, received_at: datetime, ids: list[str]) -> Reading:
        if not isinstance(payload, dict):
            raise SourceError("Kraken response is not an object")
        errors = payload.get("error") or []
        if not isinstance(errors, list):
            raise SourceError(f"Kraken error field is not a list: {short(errors)}")
        if errors:
            text = "; ".join(str(e) for e in errors)
            raise SourceError("Kraken: " + text, unknown_id="Unknown asset pair" in text)
        result = payload.get("result")
        if not isinstance(result, dict) or not result:
            raise SourceError("Kraken result holds no pair")
        keys = [str(k) for k in result]
        entries = {pair: result[key] for pair, key in match_pairs(ids, keys).items()}
        return per_instrument(ids, entries, lambda _p, e: self._observation(e, received_at))
