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
from django.utils import timezone

from accounts.models import User
from portfolio.events import portfolio_update_data
from portfolio.models import Asset, Bucket, LedgerReason
from portfolio.services import Leg, ledger_post
from pricing.markets import MarketSpec, market_for_trading
from pricing.models import MarketKind
from pricing.selectors import price_get_latest
from realtime.publish import user_events_emit_many
from trading.errors import OrderRuleViolation
from trading.execution import Execution, RuleViolation, check_lot, check_notional, plan_market_order
from trading.idempotency import fingerprint
from trading.limits import Hold, check_band, hold_for, is_crossed, touch_price, within_limit
from trading.models import Order, OrderStatus, OrderType, TimeInForce
from trading.perp_markets import check_price_on_tick
from trading.services.command import Books, Command, Locked, Prepared, Rejected, command_run
from trading.services.order_states import order_event_data
from trading.services.orders import ORDER_OUTCOMES, PlacedOrder, _fill, market_rules, slippage_model
from trading.services.spot_fill import balances_after


@dataclass(frozen=True)
class LimitPlan:
    taker: Execution | None  # the fill on arrival, when marketable within the limit
    hold: Hold
    crossed: bool


def limit_request_hash(**fields: object) -> str:
    return fingerprint({"type": OrderType.LIMIT, **fields})


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
    check_price_on_tick(limit_price, market, field="limit_price")  # 422 price_off_tick, nothing stored
    digest = limit_request_hash(
        symbol=symbol, side=side, qty=qty, limit_price=limit_price, time_in_force=time_in_force,
        expire_at=expire_at.isoformat() if expire_at else None, post_only=post_only,
    )  # fmt: skip
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id, digest=digest)

    def prepare(_books: Books | None = None) -> Prepared[LimitPlan]:
        quote = price_get_latest(symbol=market.index_symbol)
        rules = market_rules(market)
        check_lot(qty, min_qty=rules.min_qty, qty_step=rules.qty_step, asset=market.asset)
        check_band(limit_price=limit_price, index_price=quote.price, band_pct=settings.TRADING_PRICE_BAND_PCT)
        touch = touch_price(side, index=quote.price, bid=quote.bid, ask=quote.ask)
        crossed = is_crossed(side, limit_price=limit_price, touch=touch)
        if crossed and post_only:
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

    fields = {"limit_price": limit_price, "time_in_force": time_in_force, "expire_at": expire_at,
              "post_only": post_only}  # fmt: skip

    def write(books: Books, prepared: Prepared[LimitPlan], locked: Locked) -> Order:
        plan = prepared.plan
        if plan.taker is not None:
            taker = Prepared(prepared.quote, plan.taker, prepared.assets)
            return _fill(command, books=books, prepared=taker, locked=locked, market=market, type=OrderType.LIMIT,
                         qty=qty, notional=None, **fields)  # fmt: skip
        resting = time_in_force in (TimeInForce.GTC, TimeInForce.GTD)
        if resting and _open_count(user) >= settings.TRADING_MAX_OPEN_ORDERS:
            limit = settings.TRADING_MAX_OPEN_ORDERS
            raise Rejected(
                OrderRuleViolation(
                    f"At most {limit} open orders per trader; cancel some first.",
                    code="too_many_open_orders",
                    extra={"max_open_orders": limit},
                )
            )
        return _born(command, books=books, prepared=prepared, locked=locked, market=market, side=side, qty=qty,
                     fields=fields)  # fmt: skip

    order, replayed = command_run(command, prepare=prepare, write=write)
    return PlacedOrder(order, replayed)


def _open_count(user: User) -> int:
    return Order.objects.filter(user=user, status=OrderStatus.NEW).count()


def _born(
    command: Command[Order],
    *,
    books: Books,
    prepared: Prepared[LimitPlan],
    locked: Locked,
    market: MarketSpec,
    side: str,
    qty: Decimal,
    fields: dict,
) -> Order:
    """Not filled on arrival: canceled (ioc/fok) or resting with its hold."""
    now = timezone.now()
    resting = fields["time_in_force"] in (TimeInForce.GTC, TimeInForce.GTD)
    hold = prepared.plan.hold
    order = Order.objects.create(
        user=command.user, client_order_id=command.client_order_id, symbol=market.symbol, side=side,
        type=OrderType.LIMIT, qty=qty, status=OrderStatus.NEW if resting else OrderStatus.CANCELED,
        index_price=prepared.quote.price, price_source=prepared.quote.source_label, epoch=books.account.epoch,
        request_hash=command.digest, created_at=now, closed_at=None if resting else now,
        held_asset=hold.asset if resting else "", held=hold.amount if resting else Decimal(0), **fields,
    )  # fmt: skip
    user_id = command.user.pk
    if not resting:
        reason = "not marketable within its limit" if prepared.plan.crossed else "not marketable"
        user_events_emit_many([(user_id, "order_canceled", order_event_data(order, reason=reason))])
        return order
    legs = [Leg(books.account, hold.asset, -hold.amount), Leg(books.account, hold.asset, hold.amount, Bucket.LOCKED)]
    ledger_post(
        reason=LedgerReason.HOLD, legs=legs, reference_type="order", reference_id=str(order.id),
        memo=f"hold: {side} {qty} {market.symbol} @ {fields['limit_price']}", shard_key=user_id,
    )  # fmt: skip
    portfolio = portfolio_update_data(books.account, balances=balances_after(locked, legs))
    user_events_emit_many(
        [(user_id, "order_accepted", order_event_data(order)), (user_id, "portfolio_update", portfolio)]
    )
    return order
