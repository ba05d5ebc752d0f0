"""Accept an aggregated tick: store it as the latest price, fold it into the candle,
announce it on the channel layer (``price_update`` with the market symbols trading on this
index), then call the ``price_tick_accepted`` hook (``core.hooks``:
trading's liquidation engine; pricing never imports trading)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from core import hooks
from core.timefmt import iso_utc
from pricing.aggregate import IndexPrice
from pricing.markets import registry_get
from pricing.selectors import DEFAULT_INDEX, PriceQuote, last_price_key, latest_price_key, quote_from_record
from pricing.services.candles import candle_record_tick
from pricing.venue_marks import perp_entries
from realtime.groups import prices_group
from realtime.publish import event, publish

logger = logging.getLogger("pricing")


def _next_seq(symbol: str) -> int:
    key = f"pricing:seq:{symbol}"
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
        return 1


def price_tick_accept(
    *, index: IndexPrice, mode: str, computed_at: datetime, symbol: str = DEFAULT_INDEX
) -> PriceQuote:
    """Write the latest record (TTL = staleness budget) with each listed perp market's mark and
    venue funding rate (``pricing.venue_marks``), the candle, the event, then call the hook (a
    failure there is logged: the tick stays accepted)."""
    listed = [m for m in registry_get().markets.values() if m.listed and m.index_symbol == symbol]
    perps = perp_entries(
        perps={m.symbol: m.price_tick for m in listed if m.is_perp}, index=index.price, at=computed_at,
        live=mode == "live",
    )  # fmt: skip
    record = {
        "symbol": symbol,
        "price": str(index.price),
        "bid": str(index.bid) if index.bid is not None else None,
        "ask": str(index.ask) if index.ask is not None else None,
        "sources": list(index.sources),
        "computed_at": iso_utc(computed_at, timespec="microseconds"),
        "mode": mode,
        "dispersion": str(index.dispersion),
        "prices": {name: str(price) for name, price in index.usd_prices.items()},
        "rejected": dict(index.rejected),
        "perps": perps,
    }
    cache.set(latest_price_key(symbol), record, timeout=settings.PRICE_STALE_SECONDS)
    cache.set(last_price_key(symbol), record, timeout=None)
    candle_record_tick(price=index.price, sources=len(index.sources), at=computed_at, mode=mode, symbol=symbol)
    quote = quote_from_record(record)
    data = {key: record[key] for key in ("symbol", "price", "sources", "computed_at", "mode", "dispersion")}
    data["markets"] = [m.symbol for m in listed]
    if perps:
        data["marks"] = {
            perp: {"mark": entry["mark"], "index": record["price"], "mark_sources": entry["mark_sources"],
                   "funding_rate": entry["funding_rate"]}
            for perp, entry in perps.items()
        }  # fmt: skip
    if index.bid is not None:
        data.update(bid=record["bid"], ask=record["ask"])
    publish(prices_group(symbol), event("price_update", data, seq=_next_seq(symbol)))
    try:
        hooks.price_tick_accepted(quote=quote)
    except Exception:
        logger.exception("price_tick_accepted hook failed")
    return quote
