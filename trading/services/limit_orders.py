"""Limit order placement: a command like a market order (``trading.services.command``).

Prepare (no lock): the market's index; the lot rules, the tick and the price band; whether the
order is marketable (``trading.limits``): a marketable ``post_only`` order is refused (422
``would_take``, stored for the id); a marketable one whose slipped taker price is within its limit
fills at once as the taker. Write, with the trader's USD and base rows locked:

* marketable and within its limit -> born ``filled`` (the market order's fill, ``spot_fill``);
* otherwise ``ioc`` / ``fok`` -> born ``canceled`` (``order_canceled``), nothing held;
* otherwise ``gtc`` / ``gtd`` -> born ``new``, resting: its worst-case cost (a buy, USD) or its
  quantity (a sell, the base asset) moves from free to locked in one ``hold`` ledger transaction
  (422 ``insufficient_funds`` when it is not free), ``order_accepted`` + ``portfolio_update``.

The trigger engine (``trading.services.order_triggers``) fills a resting order on the first tick
that crosses it; ``order_cancel`` and the expiry sweep end it.
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
from trading.execution import Execution, RuleViolation, check_lot, check_notional, plan_market_order
from trading.idempotency import fingerprint
from trading.limits import Hold, check_band, hold_for, is_crossed, touch_price, within_limit
from trading.models import Order, OrderType, TimeInForce
from trading.perp_markets import check_price_on_tick
from trading.services.command import Books, Command, Locked, Prepared, command_run
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder, _fill, market_rules, slippage_model
from trading.services.resting import Birth, order_born


@dataclass(frozen=True)
class LimitPlan:
    taker: Execution | None  # the fill on arrival, when marketable within the limit
    hold: Hold
    crossed: bool


@dataclass(frozen=True)
class LimitTerms:
    """A limit order's terms (a new one's, or a replace's merged ones)."""

    market: MarketSpec
    side: str
    qty: Decimal
    limit_price: Decimal
    time_in_force: str = TimeInForce.GTC
    expire_at: datetime | None = None
    post_only: bool = False
    type: str = OrderType.LIMIT  # stop_limit: a triggered stop-limit's replace
    stop_price: Decimal | None = None
    triggered_at: datetime | None = None

    def fields(self) -> dict:
        return {
            "limit_price": self.limit_price, "time_in_force": self.time_in_force, "expire_at": self.expire_at,
            "post_only": self.post_only, "stop_price": self.stop_price, "triggered_at": self.triggered_at,
        }  # fmt: skip

    def check_ticks(self) -> None:
        """422 ``price_off_tick`` (nothing stored)."""
        check_price_on_tick(self.limit_price, self.market, field="limit_price")

    def digest(self, **extra: object) -> str:
        """The request's meaning (a plain limit's as before stops: no ``stop_price`` key)."""
        stop = {"stop_price": self.stop_price} if self.stop_price is not None else {}
        return fingerprint(
            {"type": self.type, "symbol": self.market.symbol, "side": self.side, "qty": self.qty,
             "limit_price": self.limit_price, "time_in_force": self.time_in_force,
             "expire_at": self.expire_at.isoformat() if self.expire_at else None, "post_only": self.post_only,
             **stop, **extra}
        )  # fmt: skip


def limit_order_place(
    *,
    user: User,
    client_order_id: str,
    symbol: str,
    side: str,
    qty: Decimal,
    limit_price: Decimal,
    time_in_force: str = TimeInForce.GTC,
    expire_at: datetime | None = None,
    post_only: bool = False,
) -> PlacedOrder:
    """Place a limit order: filled at once, canceled (ioc/fok), or resting with its funds held."""
    market = market_for_trading(symbol, kind=MarketKind.SPOT, opening=side == "buy")
    terms = LimitTerms(market, side, qty, limit_price, time_in_force, expire_at, post_only)
    terms.check_ticks()  # 422 price_off_tick, nothing stored
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id, digest=terms.digest())

    def write(books: Books, prepared: Prepared[LimitPlan], locked: Locked) -> Order:
        return limit_write(command, books=books, prepared=prepared, locked=locked, terms=terms)

    order, replayed = command_run(command, prepare=lambda _books: limit_prepare(terms), write=write)
    return PlacedOrder(order, replayed)


def limit_prepare(terms: LimitTerms) -> Prepared[LimitPlan]:
    """No lock: the index, the lot, band and notional rules, whether it is marketable (a
    marketable post-only is 422 ``would_take``) and its taker fill when within its limit."""
    market, side, qty, limit_price = terms.market, terms.side, terms.qty, terms.limit_price
    quote = price_get_latest(symbol=market.index_symbol)
    rules = market_rules(market)
    check_lot(qty, min_qty=rules.min_qty, qty_step=rules.qty_step, asset=market.asset)
    check_band(price=limit_price, index_price=quote.price, band_pct=settings.TRADING_PRICE_BAND_PCT)
    touch = touch_price(side, index=quote.price, bid=quote.bid, ask=quote.ask)
    crossed = is_crossed(side, limit_price=limit_price, touch=touch)
    if crossed and terms.post_only:
        raise RuleViolation(
            "would_take", "A post-only order would fill on arrival (take liquidity).", touch_price=f"{touch:f}"
        )
    taker = None
    if crossed:
        plan = plan_market_order(
            side=side, index_price=quote.price, qty=qty, notional=None, rules=rules, model=slippage_model(),
            fee_bps=settings.TRADING_FEE_BPS,
        )  # fmt: skip
        taker = plan if within_limit(side, price=plan.price, limit_price=limit_price) else None
    else:
        check_notional(rules, qty * limit_price)  # the notional rules, at the limit price
    hold = hold_for(side=side, qty=qty, limit_price=limit_price, base=market.asset,
                    taker_fee_bps=settings.TRADING_FEE_BPS)  # fmt: skip
    return Prepared(quote, LimitPlan(taker, hold, crossed), assets=(Asset.USD, market.asset))


def limit_write(
    command: Command[Order],
    *,
    books: Books,
    prepared: Prepared[LimitPlan],
    locked: Locked,
    terms: LimitTerms,
    replaces: Order | None = None,
) -> Order:
    """Inside the command's transaction: the taker fill on arrival, or the order born resting
    (its hold) or canceled (ioc/fok)."""
    plan = prepared.plan
    if plan.taker is not None:
        taker = Prepared(prepared.quote, plan.taker, prepared.assets)
        return _fill(command, books=books, prepared=taker, locked=locked, market=terms.market, type=terms.type,
                     qty=terms.qty, notional=None, replaces=replaces, **terms.fields())  # fmt: skip
    birth = Birth(terms.market, terms.type, terms.side, terms.qty, plan.hold, terms.fields())
    reason = "not marketable within its limit" if plan.crossed else "not marketable"
    return order_born(command, books=books, quote=prepared.quote, locked=locked, birth=birth, reason=reason,
                      replaces=replaces)  # fmt: skip
