"""The trigger engine: on every accepted tick of a token's index, fill the resting limit orders
of that index's spot markets that the tick crossed, as the maker, at their own limit price.

The candidates come from one indexed query (``order_open_sym_side_limit``: open orders only, by
symbol, side and limit price; a buy at or above the ask the tick shows, a sell at or below its
bid, the index when the record has none), oldest first, placed before the tick. Each fills in its
own transaction: the trader's USD and base balance rows, then the order row, re-checked open and
still crossed under that lock -- so a cancel, an expiry, a second engine run and the tick race to
exactly one outcome, and the hold is released exactly once (with the fill, in its ledger
transaction). Run after the tick's liquidations (``trading.tasks.liquidate_on_tick``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock, system_account_get
from pricing.markets import MarketSpec, registry_get
from trading.limits import is_crossed, plan_maker_fill
from trading.models import RESTING_LIMIT, Order, OrderStatus, Side
from trading.services.command import command_atomic
from trading.services.order_states import order_transition
from trading.services.spot_fill import spot_fill_write

logger = logging.getLogger("trading.triggers")


@dataclass(frozen=True)
class Touch:
    """What a tick shows each side: a buy meets the ask, a sell the bid."""

    index: Decimal
    buy: Decimal
    sell: Decimal


@dataclass
class TriggerReport:
    filled: list[str] = field(default_factory=list)
    skipped: int = 0  # crossed when listed, but no longer open or crossed under the lock


def _spot_markets(index_symbol: str) -> dict[str, MarketSpec]:
    return {m.symbol: m for m in registry_get().markets.values() if m.index_symbol == index_symbol and not m.is_perp}


def crossed_orders(*, symbols: list[str], touch: Touch, before: datetime) -> list[tuple[UUID, str, int, int, int]]:
    """``(order id, symbol, user id, ledger account id, epoch)`` of the open limit orders of
    ``symbols`` the tick crosses, oldest first: one indexed query, the trader's account joined in
    (its epoch cannot change under an open order: a reset is refused while funds are held)."""
    crossed = Q(side=Side.BUY, limit_price__gte=touch.buy) | Q(side=Side.SELL, limit_price__lte=touch.sell)
    # A stop-limit rests as a limit from when its stop triggered: not on the tick that triggered it.
    rested = Q(triggered_at__isnull=True) | Q(triggered_at__lte=before)
    rows = Order.objects.filter(RESTING_LIMIT, crossed, rested, symbol__in=symbols, created_at__lte=before)
    return list(
        rows.order_by("created_at", "id").values_list(
            "id", "symbol", "user_id", "user__ledger_account__id", "user__ledger_account__epoch"
        )
    )


def order_triggers_run(
    *, index_symbol: str, price: Decimal, computed_at: datetime, bid: Decimal | None = None, ask: Decimal | None = None
) -> TriggerReport:
    """Fill what the tick of ``index_symbol`` crossed; a failure on one order is logged, the
    others still fill."""
    report = TriggerReport()
    markets = _spot_markets(index_symbol)
    if not markets:
        return report
    touch = Touch(index=price, buy=ask if ask is not None else price, sell=bid if bid is not None else price)
    crossed = crossed_orders(symbols=list(markets), touch=touch, before=computed_at)
    if not crossed:
        return report
    house, fees = system_account_get(code="house"), system_account_get(code="fees")
    for order_id, symbol, user_id, account_id, epoch in crossed:
        account = LedgerAccount(pk=account_id, kind=LedgerAccount.Kind.USER, user_id=user_id, epoch=epoch)
        try:
            done = _fill_resting(order_id, touch=touch, market=markets[symbol], account=account, house=house, fees=fees)
        except Exception:
            logger.exception("trigger fill of order %s failed", order_id)
            done = False
        if done:
            report.filled.append(str(order_id))
        else:
            report.skipped += 1
    return report


def _fill_resting(
    order_id: UUID, *, touch: Touch, market: MarketSpec, account: LedgerAccount, house: LedgerAccount,
    fees: LedgerAccount,
) -> bool:  # fmt: skip
    with command_atomic():
        locked = balance_lock(keys=[(account, asset, 0) for asset in sorted({Asset.USD, market.asset})])
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        side_touch = touch.buy if order.side == Side.BUY else touch.sell
        if order.status != OrderStatus.NEW or order.limit_price is None or order.qty is None:
            return False
        if not is_crossed(order.side, limit_price=order.limit_price, touch=side_touch):
            return False
        plan = plan_maker_fill(
            side=order.side, qty=order.qty, limit_price=order.limit_price, index_price=touch.index,
            fee_bps=settings.TRADING_MAKER_FEE_BPS,
        )  # fmt: skip
        now, release = timezone.now(), order.held
        order_transition(order, OrderStatus.FILLED, now=now)
        order.filled_qty, order.filled_avg_price, order.fee = plan.qty, plan.price, plan.fee
        order.slippage_bps, order.index_price, order.held = Decimal(0), touch.index, Decimal(0)
        order.save(
            update_fields=["status", "filled_at", "filled_qty", "filled_avg_price", "fee", "slippage_bps",
                           "index_price", "held"]
        )  # fmt: skip
        spot_fill_write(
            order=order, plan=plan, account=account, house=house, fees=fees, asset=market.asset, locked=locked,
            now=now, liquidity="maker", release=release,
        )  # fmt: skip
    return True
