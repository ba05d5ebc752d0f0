"""Reads behind the markets API: every market's rules, status and latest price with its 24 h
change; a perp's index, mark, funding rate now and last settled funding. One cache round trip
for the prices (two when some index has no fresh record), one query for the candles of a day
ago and one for the perps' last funding runs, whatever the number of markets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.conf import settings

from core import hooks
from pricing.markets import MarketSpec, market_get, market_list
from pricing.marks import funding_rate_for, next_funding_at, perp_mark_from_record
from pricing.models import Candle
from pricing.selectors import PriceMark, price_marks_get, price_mode_of

DAY = timedelta(hours=24)
# The candle "a day ago" is the last 1-minute candle starting at most 24 h ago, if one started
# within this window before that instant (else the change is unknown: null).
DAY_AGO_WINDOW = timedelta(hours=1)
CHANGE_QUANTUM = Decimal("0.000001")


def _text(value: Decimal | None) -> str | None:
    """A registry decimal as plain text without trailing zeros (``0.001``, ``1000000``)."""
    return None if value is None else format(value.normalize(), "f")


def prices_day_ago(index_symbols: list[str], *, now: datetime) -> dict[str, Decimal]:
    """Each index's close of the last 1-minute candle that started at most 24 h before ``now``
    (within ``DAY_AGO_WINDOW``), in its running mode: one query."""
    cutoff = now - DAY
    modes = {symbol: price_mode_of(symbol) for symbol in index_symbols}
    rows = (
        Candle.objects.filter(
            symbol__in=index_symbols, mode__in=set(modes.values()), start__gt=cutoff - DAY_AGO_WINDOW, start__lte=cutoff
        )
        .order_by("start")
        .values_list("symbol", "mode", "close")
    )
    found: dict[str, Decimal] = {}
    for symbol, mode, close in rows:
        if modes.get(symbol) == mode:
            found[symbol] = close  # ordered by start: the last one wins
    return found


def _market_out(market: MarketSpec, mark: PriceMark | None, day_ago: Decimal | None, funded: dict | None) -> dict:
    base = market.base
    change = None
    if mark is not None and day_ago:
        change = str(((mark.price - day_ago) / day_ago).quantize(CHANGE_QUANTUM))
    return {
        "symbol": market.symbol,
        "kind": market.kind,
        "status": market.status,
        "base": {"code": base.code, "name": base.name, "mint": base.mint, "decimals": base.decimals},
        "quote": market.quote,
        "index_symbol": market.index_symbol,
        "rules": {
            "qty_step": _text(market.qty_step),
            "min_qty": _text(market.min_qty),
            "min_notional": _text(market.min_notional),
            "max_notional": _text(market.max_notional),
            "price_tick": _text(market.price_tick),
            "max_leverage": _text(market.max_leverage),
            "mmr": _text(market.mmr),
        },
        "price": str(mark.price) if mark is not None else None,
        "price_mode": mark.mode if mark is not None else None,
        "price_computed_at": mark.computed_at if mark is not None else None,
        "stale": mark is None or mark.stale,
        "change_24h": change,
        "price_24h_ago": str(day_ago) if day_ago is not None else None,
        **_perp_out(market, mark),
        **_funded_out(market, funded),
    }


def _perp_out(market: MarketSpec, mark: PriceMark | None) -> dict:
    """A perp's index and mark (the same record's), the venues behind the mark, and the funding
    rate one funding time charges now (``funding_rate_for``: rate and basis) and when; ``None``
    for a spot market (and for the prices of a perp never priced)."""
    out: dict = dict.fromkeys(("index", "mark", "mark_sources", "funding_rate", "funding_basis", "funding_capped",
                               "funding_interval_hours", "next_funding_at"))  # fmt: skip
    if not market.is_perp:
        return out
    hours = settings.FUNDING_INTERVAL_HOURS
    out.update(funding_interval_hours=hours, next_funding_at=next_funding_at(datetime.now(timezone.utc),
                                                                             interval_hours=hours))  # fmt: skip
    if mark is None or mark.record is None:
        return out
    perp = perp_mark_from_record(mark.record, market.symbol)
    rate = funding_rate_for(perp, interval_hours=hours, cap=settings.FUNDING_RATE_CAP)
    out.update(
        index=str(perp.index), mark=str(perp.mark), mark_sources=list(perp.mark_sources), funding_rate=str(rate.rate),
        funding_basis=rate.basis, funding_capped=rate.capped,
    )  # fmt: skip
    return out


def _funded_out(market: MarketSpec, funded: dict | None) -> dict:
    """A perp's last settled funding (``core.hooks.funding_last``): its rate, time and whether it
    was settled late; ``None`` for a spot market or a perp never funded."""
    if funded is None:
        return {"last_funding_rate": None, "last_funding_at": None, "last_funding_late": None}
    return {
        "last_funding_rate": _text(funded["rate"]) if funded["rate"] is not None else None,
        "last_funding_at": funded["funding_time"],
        "last_funding_late": funded["late"],
    }


def market_overview_list(*, markets: list[MarketSpec] | None = None, now: datetime | None = None) -> list[dict]:
    """Every listed market (or ``markets``) as the API shows it: rules, status, the index's latest
    price (the last known one flagged ``stale`` when no fresh record) and its change over ~24 h."""
    now = now or datetime.now(timezone.utc)
    markets = market_list() if markets is None else markets
    indexes = list(dict.fromkeys(m.index_symbol for m in markets))
    marks = price_marks_get(indexes, now=now)
    day_ago = prices_day_ago(indexes, now=now) if indexes else {}
    funded = hooks.funding_last(symbols=[m.symbol for m in markets if m.is_perp])
    return [
        _market_out(m, marks.get(m.index_symbol), day_ago.get(m.index_symbol), funded.get(m.symbol)) for m in markets
    ]


def market_overview_get(symbol: str, *, now: datetime | None = None) -> dict:
    """One market (delisted ones too) as the API shows it; 404 ``market_not_found`` if unknown."""
    return market_overview_list(markets=[market_get(symbol)], now=now)[0]
