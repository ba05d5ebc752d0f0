"""The stop engine: on every accepted tick of a token's index, trigger the waiting stops of that
index's spot markets whose stop price the tick crossed (a buy: index at or above its stop, a sell:
at or below), oldest first, and execute each on that tick:

* a ``stop`` as a market order at the tick's index (taker, slipped, its hold released in the fill's
  ledger transaction); a buy whose cost gapped past what it held plus the trader's free USD is
  ``rejected`` (``insufficient_funds``), as is one the market's rules refuse at that price;
* a ``stop_limit`` becomes its limit: filled at once as the taker when the slipped price is within
  its limit, else ``canceled`` (ioc/fok) or resting as a limit from then on (``triggered_at``), for
  the trigger engine (``trading.services.order_triggers``) on the next ticks.

A halted market's buy stops wait (a halt refuses buys; they trigger on the first tick after it
resumes); sells trigger. The candidates come from one indexed query
(``order_open_sym_side_stop``: waiting stops only); each is triggered in its own transaction --
the trader's balance rows, then the order row, re-checked waiting and crossed under that lock --
so a cancel, a replace, a second engine run and the tick race to exactly one outcome. Runs after
the tick's liquidations and before the resting limits (``trading.tasks.liquidate_on_tick``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock, system_account_get
from pricing.markets import MarketSpec, registry_get
from pricing.models import MarketStatus
from trading.execution import RuleViolation, plan_market_order
from trading.limits import is_crossed, stop_crossed, touch_price, within_limit
from trading.models import WAITING_STOP, Order, OrderStatus, OrderType, Side
from trading.services.command import Locked, command_atomic
from trading.services.order_outcomes import StopTick, order_fill_at_once, order_finish, order_triggered_emit
from trading.services.orders import market_rules, slippage_model
from trading.trigger_pg import trigger_statements

logger = logging.getLogger("trading.triggers")


@dataclass
class StopReport:
    filled: list[str] = field(default_factory=list)
    resting: list[str] = field(default_factory=list)  # stop-limits now resting as limits
    ended: list[str] = field(default_factory=list)  # rejected or canceled
    skipped: int = 0


def waiting_stops(*, symbols: list[str], index: Decimal, before: datetime) -> list[tuple[UUID, str, int, int, int]]:
    """``(order id, symbol, user id, ledger account id, epoch)`` of the waiting stops of
    ``symbols`` the index crossed (a buy: its stop at or below the index; a sell: at or above),
    oldest first. First a probe of the partial index ``order_open_sym_side_stop``'s ends (per
    market the lowest waiting buy stop and the highest waiting sell stop, one entry each; one
    statement of fixed text, ``trading.trigger_pg``): a tick that crosses none stops there. Then
    one range scan of that index per side crossed, bounded by the probe's end, in one ``UNION
    ALL``; the traders' accounts are read apart. Why not one query: ``(buy AND stop <= index) OR
    (sell AND stop >= index)`` with the account joined was planned as a scan of every open order
    at scale (the limit engine's candidates had the same shape:
    ``trading.services.order_triggers.crossed_orders_query``)."""
    sql = trigger_statements()
    low_buy, top_sell = sql.stop_ends(symbols=symbols)
    buys, sells = low_buy is not None and low_buy <= index, top_sell is not None and top_sell >= index
    if not (buys or sells):
        return []
    stops = Order.objects.filter(WAITING_STOP, symbol__in=symbols, created_at__lte=before)
    sides = []
    if buys:
        sides.append(stops.filter(side=Side.BUY, stop_price__lte=index, stop_price__gte=low_buy))
    if sells:
        sides.append(stops.filter(side=Side.SELL, stop_price__gte=index, stop_price__lte=top_sell))
    first, *other = (side.values_list("id", "symbol", "user_id", "created_at") for side in sides)
    rows = list((first.union(*other, all=True) if other else first).order_by("created_at", "id"))
    accounts = sql.accounts_get(user_ids=sorted({user_id for _id, _s, user_id, _t in rows}))
    return [(order_id, symbol, user_id, *accounts[user_id]) for order_id, symbol, user_id, _t in rows]


def stop_triggers_run(
    *, index_symbol: str, price: Decimal, computed_at: datetime, bid: Decimal | None = None, ask: Decimal | None = None
) -> StopReport:
    """Trigger and execute what the tick of ``index_symbol`` crossed; one order's failure is
    logged, the others still run."""
    report = StopReport()
    markets = {m.symbol: m for m in registry_get().markets.values() if m.index_symbol == index_symbol and not m.is_perp}
    if not markets:
        return report
    candidates = waiting_stops(symbols=list(markets), index=price, before=computed_at)
    if not candidates:
        return report
    tick = StopTick(index=price, bid=bid, ask=ask, house=system_account_get(code="house"),
                    fees=system_account_get(code="fees"))  # fmt: skip
    for order_id, symbol, user_id, account_id, epoch in candidates:
        account = LedgerAccount(pk=account_id, kind=LedgerAccount.Kind.USER, user_id=user_id, epoch=epoch)
        try:
            outcome = _trigger(order_id, tick=tick, market=markets[symbol], account=account)
        except Exception:
            logger.exception("stop trigger of order %s failed", order_id)
            outcome = None
        if outcome is None:
            report.skipped += 1
        else:
            getattr(report, outcome).append(str(order_id))
    return report


def _trigger(order_id: UUID, *, tick: StopTick, market: MarketSpec, account: LedgerAccount) -> str | None:
    """One stop, in its own transaction: ``filled`` / ``resting`` / ``ended``, or ``None`` when it
    is no longer waiting or crossed (or its market is halted for a buy)."""
    if market.status == MarketStatus.HALTED and _side_of(order_id) == Side.BUY:
        return None
    with command_atomic():
        locked = balance_lock(keys=[(account, asset, 0) for asset in sorted({Asset.USD, market.asset})])
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        if order.status != OrderStatus.NEW or order.triggered_at is not None or order.stop_price is None:
            return None
        if not stop_crossed(order.side, stop_price=order.stop_price, index=tick.index):
            return None
        order.triggered_at = timezone.now()
        return _execute(order, tick=tick, market=market, account=account, locked=locked)


def _side_of(order_id: UUID) -> str | None:
    return Order.objects.filter(pk=order_id).values_list("side", flat=True).first()


def _execute(order: Order, *, tick: StopTick, market: MarketSpec, account: LedgerAccount, locked: Locked) -> str:
    """The triggered stop on this tick: its market fill, its limit's fill, or its end/rest."""
    assert order.qty is not None
    if order.type == OrderType.STOP_LIMIT:
        assert order.limit_price is not None
        touch = touch_price(order.side, index=tick.index, bid=tick.bid, ask=tick.ask)
        if not is_crossed(order.side, limit_price=order.limit_price, touch=touch):
            return _rest_or_cancel(order, account=account, reason="triggered; its limit is not marketable")
    try:
        plan = plan_market_order(
            side=order.side, index_price=tick.index, qty=order.qty, notional=None, rules=market_rules(market),
            model=slippage_model(), fee_bps=settings.TRADING_FEE_BPS,
        )  # fmt: skip
    except RuleViolation as refused:
        order_finish(order, to=OrderStatus.REJECTED, account=account, reason=refused.message, code=refused.code)
        return "ended"
    if order.type == OrderType.STOP_LIMIT and not within_limit(
        order.side, price=plan.price, limit_price=order.limit_price or plan.price
    ):
        return _rest_or_cancel(order, account=account, reason="triggered; not marketable within its limit")
    if not order_fill_at_once(order, plan=plan, tick=tick, market=market, account=account, locked=locked):
        return "ended"
    return "filled"


def _rest_or_cancel(order: Order, *, account: LedgerAccount, reason: str) -> str:
    """A triggered stop-limit that cannot fill now: canceled when ioc/fok, else resting."""
    if order.time_in_force in ("ioc", "fok"):
        order_finish(order, to=OrderStatus.CANCELED, account=account, reason=reason)
        return "ended"
    order.save(update_fields=["triggered_at"])
    order_triggered_emit(order, reason=reason)
    return "resting"
