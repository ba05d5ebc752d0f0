"""Reads of positions, always scoped to one user; the live view adds the mark and the formula inputs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.db.models import QuerySet

from pricing.errors import PriceStale, PriceUnavailable
from pricing.selectors import PriceQuote, price_get_latest
from trading.errors import PositionNotFound
from trading.margin import bankruptcy_price, position_mark
from trading.models import Position, PositionEvent, PositionStatus
from trading.perp_markets import index_symbol_of, price_tick_of

if TYPE_CHECKING:
    from accounts.models import User


def position_list(*, user: User, status: str | None = None) -> QuerySet[Position]:
    qs = Position.objects.filter(user=user)
    if status:
        qs = qs.filter(status=status)
    return qs


def position_get(*, user: User, position_id: UUID) -> Position:
    position = Position.objects.filter(user=user, pk=position_id).first()
    if position is None:
        raise PositionNotFound(extra={"position_id": str(position_id)})
    return position


def mark_price_or_none(symbol: str = "SOL-PERP") -> tuple[Decimal | None, str]:
    """The fresh mark of the perp market ``symbol`` (its index's latest record: the venues' median
    mark, else the index), or ``None`` and why (``price_stale`` ...)."""
    index = index_symbol_of(symbol)
    if index is None:
        return None, "market_not_found"
    try:
        return price_get_latest(symbol=index).mark_of(symbol), "ok"
    except (PriceUnavailable, PriceStale) as exc:
        return None, exc.code


def mark_prices_for(positions: Iterable[Position]) -> dict[str, Decimal]:
    """``{market symbol: fresh mark}`` for the markets of ``positions`` (one read per index on the
    page; a market without a fresh price is left out: its positions show no mark)."""
    indexes = {symbol: index_symbol_of(symbol) for symbol in {p.symbol for p in positions}}
    wanted = sorted({index for index in indexes.values() if index})
    fresh: dict[str, PriceQuote] = {}
    for index in wanted:
        try:
            fresh[index] = price_get_latest(symbol=index)
        except (PriceUnavailable, PriceStale):
            continue
    return {symbol: fresh[index].mark_of(symbol) for symbol, index in indexes.items() if index in fresh}


def position_live(position: Position, price: Decimal | None) -> dict[str, Any]:
    """Mark-to-market of an open position (``None`` values without a price or once it ended)."""
    live: dict[str, Any] = {
        "mark_price": price,
        "unrealized_pnl": None,
        "equity": None,
        "margin_ratio": None,
        "maintenance_margin": None,
        "notional": None,
    }
    if price is None or position.status != PositionStatus.OPEN:
        return live
    mark = position_mark(
        side=position.side,
        entry=position.entry_price,
        qty=position.qty,
        margin=position.margin,
        mmr=position.mmr,
        price=price,
    )
    live.update(asdict(mark))
    return live


def position_formula(position: Position) -> dict[str, Any]:
    """The inputs of the liquidation price, so a trader can recompute it."""
    side = position.side
    formula = "(E - M/q) / (1 - mmr)" if side == "long" else "(E + M/q) / (1 + mmr)"
    return {
        "entry_price": position.entry_price,
        "margin": position.margin,
        "qty": position.qty,
        "mmr": position.mmr,
        "leverage": position.leverage,
        "bankruptcy_price": _nearest_tick(
            bankruptcy_price(side, position.entry_price, position.margin, position.qty), price_tick_of(position.symbol)
        ),
        "liquidation_price": position.liquidation_price,
        "formula": f"{side}: liquidation_price = {formula}",
    }


def _nearest_tick(price: Decimal, tick: Decimal) -> Decimal:
    """A reported price on the market's tick, banker's rounding."""
    return ((price / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick).quantize(tick)


def position_detail_get(*, user: User, position_id: UUID) -> dict[str, Any]:
    position = position_get(user=user, position_id=position_id)
    price, price_status = mark_price_or_none(position.symbol)
    return {
        "position": position,
        "live": {**position_live(position, price), "price_status": price_status},
        "inputs": position_formula(position),
    }


def position_event_list(*, position: Position) -> QuerySet[PositionEvent]:
    return position.events.order_by("created_at", "id")
