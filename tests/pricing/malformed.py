"""A catalogue of malformed answers, one source at a time (shared by tests/pricing and tests/proof).

Each case edits one source's recorded payload (``tests/pricing/fixtures``) the way a broken or
hostile provider might: timestamps out of range or without a UTC offset, numbers that overflow,
values of the wrong type, JSON nested too deep. Whatever the answer, that source alone fails,
with a reason in its health; the other sources still make the index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pricing.sources.pyth import SOL_USD_FEED


@dataclass(frozen=True)
class Malformed:
    id: str
    source: str
    mutate: Callable[[dict], object]  # edits the recorded payload in place, or returns raw bytes
    status: str  # the source's health status after the cycle: "error" (parse) or "rejected" (sanity)
    reason: str  # a fragment of the reason kept in its health


def _pyth_sol(payload: dict) -> dict:
    return next(entry for entry in payload["parsed"] if entry["id"] == SOL_USD_FEED)


def _set_publish_time(value: object) -> Callable[[dict], None]:
    def mutate(payload: dict) -> None:
        _pyth_sol(payload)["price"]["publish_time"] = value

    return mutate


def _set(key: str, value: object) -> Callable[[dict], None]:
    def mutate(payload: dict) -> None:
        payload[key] = value

    return mutate


def _pyth_price_object(payload: dict) -> None:
    _pyth_sol(payload)["price"]["price"] = {"value": "7908123456"}


def _kraken_error_number(payload: dict) -> None:
    payload["error"] = 5


def _kraken_book_overflow(payload: dict) -> None:
    entry = payload["result"]["SOLUSD"]
    entry["a"][0] = entry["b"][0] = "9e999999"


def _binance_book_overflow(payload: dict) -> None:
    payload["bidPrice"] = payload["askPrice"] = "9e999999"


def _jupiter_price_list(payload: dict) -> None:
    payload["So11111111111111111111111111111111111111112"]["usdPrice"] = [147]


def _deep_nesting(payload: dict) -> bytes:
    return b"[" * 100_000


CASES: tuple[Malformed, ...] = (
    # OverflowError from datetime.fromtimestamp
    Malformed("pyth-publish-time-overflow", "pyth", _set_publish_time(10**20), "error", "publish_time"),
    # ValueError: year 33658 is out of range
    Malformed("pyth-publish-time-year-33658", "pyth", _set_publish_time(10**12), "error", "publish_time"),
    Malformed("pyth-publish-time-far-past", "pyth", _set_publish_time(-(10**15)), "error", "publish_time"),
    Malformed("pyth-price-is-an-object", "pyth", _pyth_price_object, "error", "price"),
    # fromisoformat without an offset gives a naive datetime (the aggregator raised TypeError)
    Malformed("coinbase-naive-time", "coinbase", _set("time", "2026-02-05T23:59:50.123456"), "error", "UTC offset"),
    Malformed("coinbase-date-only", "coinbase", _set("time", "2026-02-05"), "error", "UTC offset"),
    Malformed("coinbase-time-is-a-number", "coinbase", _set("time", 1770335990), "error", "time"),
    Malformed(
        "coinbase-time-before-year-1-utc", "coinbase", _set("time", "0001-01-01T00:00:00+01:00"), "error", "time"
    ),
    # TypeError iterating an int
    Malformed("kraken-error-is-a-number", "kraken", _kraken_error_number, "error", "not a list"),
    # decimal.Overflow computing the mid
    Malformed("kraken-book-overflows", "kraken", _kraken_book_overflow, "error", "out of range"),
    Malformed("binance-book-overflows", "binance", _binance_book_overflow, "error", "out of range"),
    # RecursionError from json.loads
    Malformed("binance-json-nested-too-deep", "binance", _deep_nesting, "error", "JSON"),
    Malformed("jupiter-price-is-a-list", "jupiter", _jupiter_price_list, "error", "usdPrice"),
    # parses, but no SOL price is 10^30 (and it does not fit the health row's column)
    Malformed("backpack-price-1e30", "backpack", _set("lastPrice", "1e30"), "rejected", "out of range"),
)
