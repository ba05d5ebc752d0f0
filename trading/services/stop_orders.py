"""Stop and stop-limit placement: a command like a limit order's (``trading.services.command``).

A stop waits for the market to cross its ``stop_price`` (a buy: the index at or above it, a sell:
at or below), then executes on that tick (``trading.services.stop_triggers``): a ``stop`` as a
market order, a ``stop_limit`` as its limit. So on arrival its stop must be on the far side of
the index (a buy above, a sell below; else 422 ``stop_wrong_side``: it would trigger at once), its
prices on the market's tick and within the band of the index.

It is born ``new`` with its worst case held (``trading.limits.stop_hold``): a buy stop
``qty × stop × (1 + max slippage) × (1 + taker fee)`` in USD, a buy stop-limit
``qty × limit × (1 + taker fee)``, a sell the quantity of the base asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from accounts.models import User
from portfolio.models import Asset
from pricing.markets import MarketSpec, market_for_trading
from pricing.models import MarketKind
from pricing.selectors import price_get_latest
from trading.execution import check_lot, check_notional
from trading.idempotency import fingerprint
from trading.limits import Hold, check_band, check_stop_side, stop_hold
from trading.models import Order, OrderType, TimeInForce
from trading.perp_markets import check_price_on_tick
from trading.services.command import Books, Command, Locked, Prepared, command_run
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder, market_rules
from trading.services.resting import Birth, order_born


@dataclass(frozen=True)
class StopTerms:
    """A stop's terms (a new one's, or a replace's merged ones)."""

    market: MarketSpec
    type: str  # stop | stop_limit
    side: str
    qty: Decimal
    stop_price: Decimal
    limit_price: Decimal | None = None
    time_in_force: str = TimeInForce.GTC
    expire_at: datetime | None = None

    def fields(self) -> dict:
        return {"stop_price": self.stop_price, "limit_price": self.limit_price, "time_in_force": self.time_in_force,
                "expire_at": self.expire_at}  # fmt: skip

    def digest(self, **extra: object) -> str:
        return fingerprint(
            {"type": self.type, "symbol": self.market.symbol, "side": self.side, "qty": self.qty,
             "stop_price": self.stop_price, "limit_price": self.limit_price, "time_in_force": self.time_in_force,
             "expire_at": self.expire_at.isoformat() if self.expire_at else None, **extra}
        )  # fmt: skip

    def check_ticks(self) -> None:
        """422 ``price_off_tick`` (nothing stored)."""
        check_price_on_tick(self.stop_price, self.market, field="stop_price")
        if self.limit_price is not None:
            check_price_on_tick(self.limit_price, self.market, field="limit_price")


def stop_order_place(
    *,
    user: User,
    client_order_id: str,
    symbol: str,
    side: str,
    type: str,
    qty: Decimal,
    stop_price: Decimal,
    limit_price: Decimal | None = None,
    time_in_force: str = TimeInForce.GTC,
    expire_at: datetime | None = None,
) -> PlacedOrder:
    """Place a stop or stop-limit: born ``new``, its worst case held, or refused."""
    market = market_for_trading(symbol, kind=MarketKind.SPOT, opening=side == "buy")
    terms = StopTerms(market, type, side, qty, stop_price, limit_price, time_in_force, expire_at)
    terms.check_ticks()
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id, digest=terms.digest())

    def write(books: Books, prepared: Prepared[Hold], locked: Locked) -> Order:
        return stop_write(command, books=books, prepared=prepared, locked=locked, terms=terms)

    order, replayed = command_run(command, prepare=lambda _books: stop_prepare(terms), write=write)
    return PlacedOrder(order, replayed)


def stop_prepare(terms: StopTerms) -> Prepared[Hold]:
    """No lock: the index, the lot rules, the stop's side of the market, the band (both prices),
    the notional rules at the price it would execute at, and its hold."""
    market = terms.market
    quote = price_get_latest(symbol=market.index_symbol)
    rules = market_rules(market)
    check_lot(terms.qty, min_qty=rules.min_qty, qty_step=rules.qty_step, asset=market.asset)
    check_stop_side(terms.side, stop_price=terms.stop_price, index_price=quote.price)
    band = settings.TRADING_PRICE_BAND_PCT
    check_band(price=terms.stop_price, index_price=quote.price, band_pct=band, field="stop_price")
    if terms.limit_price is not None:
        check_band(price=terms.limit_price, index_price=quote.price, band_pct=band)
    check_notional(rules, terms.qty * (terms.limit_price or terms.stop_price))
    hold = stop_hold(
        side=terms.side, qty=terms.qty, stop_price=terms.stop_price, limit_price=terms.limit_price,
        base=market.asset, taker_fee_bps=settings.TRADING_FEE_BPS, max_slippage_bps=settings.TRADING_MAX_SLIPPAGE_BPS,
    )  # fmt: skip
    return Prepared(quote, hold, assets=(Asset.USD, market.asset))


def stop_write(
    command: Command[Order],
    *,
    books: Books,
    prepared: Prepared[Hold],
    locked: Locked,
    terms: StopTerms,
    replaces: Order | None = None,
) -> Order:
    """Inside the command's transaction: the stop born resting with its hold."""
    birth = Birth(terms.market, terms.type, terms.side, terms.qty, prepared.plan, terms.fields())
    return order_born(
        command, books=books, quote=prepared.quote, locked=locked, birth=birth, replaces=replaces, rests=True
    )


def is_stop(type: str) -> bool:
    return type in (OrderType.STOP, OrderType.STOP_LIMIT)
