"""Market order placement: one command (``trading.services.command``) that fills at once.

On PostgreSQL the whole fill is one call of a stored function (``order_one_call``: BEGIN, the
call, COMMIT); the steps below are the Python path, which SQLite (embedded mode) takes, and
PostgreSQL with ``TRADING_FILL_IN_ONE_CALL=0`` or for a trader whose books are not open yet. Both
answer alike (tests/trading/test_fill_one_call.py).

The market comes first, from the registry (``pricing.markets``): unknown or delisted -> 404
``market_not_found``, a perp -> 422 ``market_kind_mismatch``, a halted market refuses buys (422
``market_halted``; sells stay open, so a holder can always get out) -- nothing is stored for any of
them. Prepare (no lock): read the market's index price, plan the fill with the pure maths
(``plan_market_order``: the market's lot and tick rules, slippage, fee). Write, inside the
command's transaction after the trader's USD and base-asset balance rows are locked: insert the
order, post the fill's ledger transaction (user, ``house``, ``fees``), insert the fill, update the
base asset's book, store ``order_fill`` and ``portfolio_update`` (published after commit). The
leaderboard follows the ledger on a timer: nothing is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from portfolio.models import Asset
from pricing.markets import MarketSpec, market_for_trading
from pricing.models import MarketKind
from pricing.selectors import price_get_latest
from trading.execution import Execution, MarketRules, SlippageModel, plan_market_order
from trading.idempotency import fingerprint
from trading.models import Order, OrderRejection, OrderStatus
from trading.services.command import Books, Command, Locked, Outcomes, Prepared, command_run
from trading.services.order_one_call import one_call_enabled, order_fill_one_call
from trading.services.spot_fill import spot_fill_write


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    replayed: bool


def market_rules(market: MarketSpec) -> MarketRules:
    return MarketRules(
        min_qty=market.min_qty,
        qty_step=market.qty_step,
        min_notional=market.min_notional,
        max_notional=market.max_notional,
        price_tick=market.price_tick,
        asset=market.asset,
    )


def slippage_model() -> SlippageModel:
    return SlippageModel(
        spread_bps=settings.TRADING_SPREAD_BPS,
        impact_bps=settings.TRADING_IMPACT_BPS,
        impact_ref_notional=settings.TRADING_IMPACT_REF_NOTIONAL,
        max_bps=settings.TRADING_MAX_SLIPPAGE_BPS,
    )


def request_hash(*, symbol: str, side: str, type: str, qty: Decimal | None, notional: Decimal | None) -> str:
    """Fingerprint of the order's meaning ("1.0" and "1" are the same quantity)."""
    return fingerprint({"symbol": symbol, "side": side, "type": type, "qty": qty, "notional": notional})


ORDER_OUTCOMES = Outcomes(rows=Order, rejections=OrderRejection)


def order_place(
    *,
    user: User,
    client_order_id: str,
    symbol: str,
    side: str,
    type: str,
    qty: Decimal | None = None,
    notional: Decimal | None = None,
) -> PlacedOrder:
    """Place and fill a market order, or raise a ``DomainError`` (nothing written but the rejection)."""
    market = market_for_trading(symbol, kind=MarketKind.SPOT, opening=side == "buy")
    digest = request_hash(symbol=symbol, side=side, type=type, qty=qty, notional=notional)
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id, digest=digest)

    def prepare(_books: Books | None = None) -> Prepared[Execution]:
        # 503 price_unavailable / price_stale (this market's index only): nothing stored, retry allowed
        quote = price_get_latest(symbol=market.index_symbol)
        plan = plan_market_order(
            side=side, index_price=quote.price, qty=qty, notional=notional, rules=market_rules(market),
            model=slippage_model(), fee_bps=settings.TRADING_FEE_BPS,
        )  # fmt: skip
        return Prepared(quote, plan, assets=(Asset.USD, market.asset))

    if one_call_enabled():  # PostgreSQL: the whole fill in one round trip
        done = order_fill_one_call(
            command, prepare=prepare, symbol=symbol, asset=market.asset, type=type, qty=qty, notional=notional
        )
        if done is not None:
            return PlacedOrder(*done)

    def write(books: Books, prepared: Prepared[Execution], locked: Locked) -> Order:
        return _fill(command, books=books, prepared=prepared, locked=locked, market=market, type=type, qty=qty,
                     notional=notional)  # fmt: skip

    order, replayed = command_run(command, prepare=prepare, write=write)
    return PlacedOrder(order, replayed)


def _fill(
    command: Command[Order],
    *,
    books: Books,
    prepared: Prepared[Execution],
    locked: Locked,
    market: MarketSpec,
    type: str,
    qty: Decimal | None,
    notional: Decimal | None,
    **order_fields: Any,
) -> Order:
    """Inside the command's transaction: the order (born filled; ``order_fields`` for a limit
    order's own), then its fill (``spot_fill_write``)."""
    plan, now = prepared.plan, timezone.now()
    order = Order.objects.create(
        user=command.user, client_order_id=command.client_order_id, symbol=market.symbol, side=plan.side, type=type,
        qty=qty, notional=notional, status=OrderStatus.FILLED, filled_qty=plan.qty, filled_avg_price=plan.price,
        fee=plan.fee, slippage_bps=plan.slippage_bps, index_price=plan.index_price,
        price_source=prepared.quote.source_label, epoch=books.account.epoch, request_hash=command.digest,
        created_at=now, filled_at=now, **order_fields,
    )  # fmt: skip
    spot_fill_write(
        order=order, plan=plan, account=books.account, house=books.house, fees=books.fees, asset=market.asset,
        locked=locked, now=now,
    )  # fmt: skip
    return order
