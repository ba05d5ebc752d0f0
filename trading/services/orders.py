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

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from portfolio.events import portfolio_update_data
from portfolio.models import Asset, Balance, Bucket, LedgerReason
from portfolio.services import Leg, holding_apply_fill, ledger_post
from pricing.markets import MarketSpec, market_for_trading
from pricing.models import MarketKind
from pricing.selectors import price_get_latest
from realtime.publish import user_events_emit_many
from trading.events import order_fill_data
from trading.execution import Execution, MarketRules, SlippageModel, plan_market_order
from trading.idempotency import fingerprint
from trading.models import Fill, Order, OrderRejection, OrderStatus
from trading.services.command import Books, Command, Locked, Outcomes, Prepared, command_run
from trading.services.order_one_call import one_call_enabled, order_fill_one_call


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


def _legs(books: Books, plan: Execution, asset: str) -> list[Leg]:
    sign = 1 if plan.side == "buy" else -1
    return [
        Leg(books.account, asset, sign * plan.qty),
        Leg(books.house, asset, -sign * plan.qty),
        Leg(books.account, Asset.USD, plan.cash_delta),
        Leg(books.house, Asset.USD, sign * plan.notional),
        Leg(books.fees, Asset.USD, plan.fee),
    ]


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
) -> Order:
    """Inside the command's transaction: the order, its ledger posting, its fill, the base asset's
    book and the two user events (``order_fill`` seq n, ``portfolio_update`` seq n+1, one batch)."""
    plan, user, account, now = prepared.plan, command.user, books.account, timezone.now()
    symbol, asset = market.symbol, market.asset
    order = Order.objects.create(
        user=user, client_order_id=command.client_order_id, symbol=symbol, side=plan.side, type=type, qty=qty,
        notional=notional, status=OrderStatus.FILLED, filled_qty=plan.qty, filled_avg_price=plan.price,
        fee=plan.fee, slippage_bps=plan.slippage_bps, index_price=plan.index_price,
        price_source=prepared.quote.source_label, epoch=account.epoch, request_hash=command.digest,
        created_at=now, filled_at=now,
    )  # fmt: skip
    legs = _legs(books, plan, asset)
    txn = ledger_post(
        reason=LedgerReason.TRADE, legs=legs, reference_type="order", reference_id=str(order.id),
        memo=f"{plan.side} {plan.qty} {asset} @ {plan.price}", shard_key=user.pk,
    )  # fmt: skip
    fill = Fill.objects.create(
        order=order, user=user, symbol=symbol, side=plan.side, qty=plan.qty, price=plan.price,
        notional=plan.notional, fee=plan.fee, ledger_txn=txn, created_at=now,
    )  # fmt: skip
    holding = holding_apply_fill(
        account=account, asset=asset, side=plan.side, qty=plan.qty, notional=plan.notional, fee=plan.fee
    )
    portfolio = portfolio_update_data(account, balances=_balances_after(locked, legs), holdings=[holding])
    user_events_emit_many(
        [(user.pk, "order_fill", order_fill_data(order, fill)), (user.pk, "portfolio_update", portfolio)]
    )
    return order


def _balances_after(locked: Locked, legs: list[Leg]) -> list[Balance]:
    """The user's balance rows as ``ledger_post`` left them, for the event payload, without a
    re-read: the rows are locked by this transaction from before the posting, so their state is
    what we read plus our legs. Unsaved copies: nothing here writes a balance."""
    after = []
    for (account_id, asset, _shard), row in locked.items():
        mine = [leg for leg in legs if leg.account.pk == account_id and leg.asset == asset]
        total = row.total + sum((leg.amount for leg in mine), Decimal(0))
        held = row.locked + sum((leg.amount for leg in mine if leg.bucket == Bucket.LOCKED), Decimal(0))
        after.append(Balance(account_id=account_id, asset=asset, total=total, locked=held))
    return after
