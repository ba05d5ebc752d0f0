"""Trading tasks: per index tick the TP/SL engine of positions and the liquidation engine (with its
lanes), each perp market at its mark, the positions' limit entries at the index, then the stop
engine and the trigger engine of resting limits; the periodic backstop sweep (TP/SL, liquidations,
entries, triggers, gtd expiry)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from celery import shared_task
from django.conf import settings

from core.hooks import Tick
from pricing.errors import PriceStale, PriceUnavailable
from pricing.markets import registry_get
from pricing.selectors import price_get_latest
from trading.perp_markets import perp_markets_by_index
from trading.services.liquidation import DEFAULT_INDEX, LIQUIDATE_LANE_TASK, liquidation_lane_run, liquidation_run
from trading.services.order_end import orders_expire_due
from trading.services.order_triggers import FILL_LANE_TASK, Touch, order_triggers_lane_run, order_triggers_run
from trading.services.position_entries import position_entries_run
from trading.services.position_triggers import position_triggers_run
from trading.services.stop_triggers import stop_triggers_run
from trading.tick_ends_pg import tick_may_act

logger = logging.getLogger("trading.liquidation")


@shared_task(name="trading.liquidate_on_tick", ignore_result=True, acks_late=True)
def liquidate_on_tick(
    price: str,
    computed_at: str,
    index_symbol: str = DEFAULT_INDEX,
    bid: str | None = None,
    ask: str | None = None,
    marks: dict[str, str] | None = None,
) -> int:
    """The tick ``price`` of ``index_symbol`` with its perp markets' ``marks``: on each perp
    market, first close the positions whose take-profit or stop-loss its mark crossed, then
    liquidate what its mark crossed; then fill the perps' limit entries and the spot markets'
    resting orders the index crossed (all safe to rerun: each position and order is re-checked
    under lock). A perp without a mark (``marks`` absent: a message queued before marks) is
    marked at the index. ``index_symbol`` defaults to SOL's for messages queued before markets."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    bid_price, ask_price = (Decimal(value) if value else None for value in (bid, ask))
    index_price = Decimal(price)
    perps = perp_markets_by_index().get(index_symbol, [])
    perp_marks = {symbol: Decimal((marks or {}).get(symbol) or price) for symbol in perps}
    if not tick_may_act(index_symbol=index_symbol, price=index_price, bid=bid_price, ask=ask_price, marks=perp_marks):
        return 0  # a quiet tick: one statement (the ends of every index the engines read)
    liquidated = 0
    if perps:
        liquidated = perps_at_marks(index_symbol=index_symbol, marks=perp_marks, computed_at=tick_time)
        _position_entries(index_symbol=index_symbol, price=index_price, computed_at=tick_time)
    orders_on_tick(
        index_symbol=index_symbol, price=Decimal(price), computed_at=tick_time,
        bid=bid_price, ask=ask_price,
    )  # fmt: skip
    return liquidated


def perps_at_marks(*, index_symbol: str, marks: dict[str, Decimal], computed_at: datetime) -> int:
    """TP/SL, then liquidations, of the perp markets on ``index_symbol``, each at its mark (the
    markets sharing a mark in one run); how many positions this process liquidated.

    Why the mark here and the index for fills: a stop or a liquidation is protection, so it must
    not fire on one venue's wick of the price trades fill at; the mark (the median of the
    venues' perp marks, within a band of the index) is what real venues judge them by. A new
    order or a limit entry is a trade: it fills at the index, the price this exchange trades at."""
    by_mark: dict[Decimal, list[str]] = {}
    for symbol, mark in marks.items():
        by_mark.setdefault(mark, []).append(symbol)
    liquidated = 0
    for mark, symbols in by_mark.items():
        _position_triggers(index_symbol=index_symbol, price=mark, computed_at=computed_at, symbols=symbols)
        report = liquidation_run(price=mark, computed_at=computed_at, index_symbol=index_symbol, symbols=symbols)
        liquidated += len(report.liquidated)
    return liquidated


def _position_triggers(*, index_symbol: str, price: Decimal, computed_at: datetime, symbols: list[str]) -> None:
    """TP/SL before the liquidations they protect against; a failure never holds those back."""
    try:
        position_triggers_run(index_symbol=index_symbol, price=price, computed_at=computed_at, symbols=symbols)
    except Exception:
        logger.exception("TP/SL triggers of %s at %s failed", index_symbol, price)


def _position_entries(*, index_symbol: str, price: Decimal, computed_at: datetime) -> None:
    """The positions' resting limit entries the tick crossed, after its liquidations."""
    try:
        position_entries_run(index_symbol=index_symbol, price=price, computed_at=computed_at)
    except Exception:
        logger.exception("limit entries of %s at %s failed", index_symbol, price)


def orders_on_tick(
    *, index_symbol: str, price: Decimal, computed_at: datetime, bid: Decimal | None, ask: Decimal | None
) -> None:
    """The tick's resting orders, after its liquidations: the stops it triggers first (a
    stop-limit that rests from now on is not filled by this tick), then the limits it crosses."""
    stop_triggers_run(index_symbol=index_symbol, price=price, computed_at=computed_at, bid=bid, ask=ask)
    order_triggers_run(index_symbol=index_symbol, price=price, computed_at=computed_at, bid=bid, ask=ask)


def liquidate_on_price_tick(*, quote: Tick) -> None:
    """The ``price_tick_accepted`` hook (``core.hooks``, registered in ``TradingConfig.ready``):
    run ``trading.liquidate_on_tick`` for the tick's index (liquidations, then resting orders),
    inline when eager or when ``POSITION_ENGINE_ASYNC`` is off, else on a worker."""
    index_symbol = quote.symbol
    bid, ask = (str(value) if value is not None else None for value in (quote.bid, quote.ask))
    marks = {symbol: str(mark) for symbol, mark in quote.marks}
    args = (str(quote.price), quote.computed_at.isoformat(), index_symbol, bid, ask, marks)
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.POSITION_ENGINE_ASYNC:
        liquidate_on_tick.run(*args)
    else:
        liquidate_on_tick.delay(*args)


@shared_task(name=LIQUIDATE_LANE_TASK, ignore_result=True, acks_late=True)
def liquidate_lane(
    ids: list[str], price: str, computed_at: str, index_symbol: str = DEFAULT_INDEX, symbols: list[str] | None = None
) -> int:
    """One lane of a tick (``liquidation_run`` fans out big ticks): same checks, same batches, at
    the mark ``price`` of the perp markets ``symbols``."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    return len(
        liquidation_lane_run(
            ids=ids, price=Decimal(price), computed_at=tick_time, index_symbol=index_symbol, symbols=symbols
        )
    )


@shared_task(name=FILL_LANE_TASK, ignore_result=True, acks_late=True)
def fill_resting_lane(
    ids: list[str], index_symbol: str, index: str, buy: str, sell: str, computed_at: str
) -> int:  # fmt: skip
    """One lane of a tick's crossed resting orders (``order_triggers_run`` fans out big ticks):
    each order re-checked under its lock, in the same batches."""
    tick_time = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    touch = Touch(index=Decimal(index), buy=Decimal(buy), sell=Decimal(sell))
    return len(order_triggers_lane_run(ids=ids, index_symbol=index_symbol, touch=touch, computed_at=tick_time))


@shared_task(name="trading.liquidation_sweep", ignore_result=True)
def liquidation_sweep() -> int:
    """Backstop for a missed tick: every perp market's index at its own latest fresh price (an
    index without a fresh price is skipped; the others still run); then every index's resting
    orders at its fresh price, and the expiry of ``gtd`` orders whose time passed."""
    try:
        orders_expire_due()
    except Exception:
        logger.exception("expiry sweep failed")
    _triggers_sweep()
    done = 0
    for index_symbol, perps in perp_markets_by_index().items():
        try:
            quote = price_get_latest(symbol=index_symbol)
        except (PriceUnavailable, PriceStale):
            continue
        marks = {symbol: quote.mark_of(symbol) for symbol in perps}
        try:
            done += perps_at_marks(index_symbol=index_symbol, marks=marks, computed_at=quote.computed_at)
        except Exception:  # one market's failure never starves the others
            logger.exception("liquidation sweep of %s failed", index_symbol)
            continue
        _position_entries(index_symbol=index_symbol, price=quote.price, computed_at=quote.computed_at)
    return done


def _triggers_sweep() -> None:
    """Resting orders of every spot index at its fresh price (a missed tick's fills)."""
    for index_symbol in {m.index_symbol for m in registry_get().markets.values() if not m.is_perp}:
        try:
            quote = price_get_latest(symbol=index_symbol)
            orders_on_tick(
                index_symbol=index_symbol, price=quote.price, computed_at=quote.computed_at, bid=quote.bid,
                ask=quote.ask,
            )  # fmt: skip
        except (PriceUnavailable, PriceStale):
            continue
        except Exception:
            logger.exception("trigger sweep of %s failed", index_symbol)
