"""Commands on leveraged positions (docs/positions.md): an order by side on a market, and a close.

Positions are net: one open position per user and market. An order on the position's side
increases it; on the other side it reduces, closes or flips it (``trading.netting``). A command
on a position the index has already crossed first settles it as the liquidation it is.

Both are commands (``trading.services.command.command_run``): resolve the ``client_order_id`` (a
stored outcome replays), read the price and plan with the pure maths (no lock), then one durable
transaction: lock the trader's USD balance row, re-check the id and the price's age, then the
steps of ``trading.services.position_steps`` (position row lock, ``position_book`` writes, the
``PositionOrder`` record, events on commit). A business rejection is stored for its id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from accounts.models import User
from pricing.markets import MarketHalted, market_for_trading
from pricing.models import MarketKind, MarketStatus
from pricing.selectors import PriceQuote, price_get_latest
from trading.errors import OrderRuleViolation, PositionNotFound, PositionNotOpen
from trading.events import position_update_emit
from trading.execution import RuleViolation
from trading.idempotency import fingerprint
from trading.margin import OpenPlan, plan_open, taker_side
from trading.models import Position, PositionEvent, PositionOrder, PositionRejection, PositionStatus
from trading.netting import check_close_qty
from trading.perp_markets import check_price_on_tick, perp_market_of, perp_rules
from trading.services.command import Books, Command, Locked, Outcomes, Prepared, command_atomic, command_run
from trading.services.orders import slippage_model
from trading.services.position_book import position_lock
from trading.services.position_steps import Tolerance, close_write, net_order_write, step_record, tpsl_apply
from trading.tpsl import Trigger, check_tpsl

POSITION_OUTCOMES = Outcomes(rows=PositionOrder, rejections=PositionRejection, related=("position", "event"))


@dataclass(frozen=True)
class OpenedPosition:
    position: Position
    replayed: bool


@dataclass(frozen=True)
class ClosedPosition:
    position: Position
    event: PositionEvent  # a close, or the liquidation a crossed position settled as
    replayed: bool = False


def position_request_hash(
    *, symbol: str, side: str, leverage: Decimal, margin: Decimal | None, qty: Decimal | None, **tpsl: Decimal | None
) -> str:
    """The order's meaning; the take-profit / stop-loss only when given (so the ids of orders
    stored before they existed keep their fingerprints)."""
    given = {name: value for name, value in tpsl.items() if value is not None}
    return fingerprint({"symbol": symbol, "side": side, "leverage": leverage, "margin": margin, "qty": qty, **given})


def close_request_hash(*, position_id: uuid.UUID | str, qty: Decimal | None) -> str:
    return fingerprint({"close": str(position_id), "qty": qty})


def position_open(
    *,
    user: User,
    side: str,
    leverage: Decimal,
    client_order_id: str | None = None,
    margin: Decimal | None = None,
    qty: Decimal | None = None,
    symbol: str = "SOL-PERP",
    reference_price: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    take_profit_price: Decimal | None = None,
    stop_loss_price: Decimal | None = None,
) -> OpenedPosition:
    """An order of ``side`` (long buys, short sells) on the perp market ``symbol``: opens,
    increases, reduces, closes or flips the user's net position. Idempotent by
    ``client_order_id`` (generated for the seed route when absent); a rule of the maths writes
    nothing but a stored rejection.

    The market (registry): unknown or delisted 404 ``market_not_found``, spot 422
    ``market_kind_mismatch``; halted: an order that opens or adds is 422 ``market_halted``
    (nothing stored), one that reduces or closes goes through, and a flip only closes.

    ``take_profit_price`` / ``stop_loss_price`` go on the position the order leaves on its side
    (``trading.tpsl``: 422 ``price_off_tick`` with nothing stored; the side, band and liquidation
    rules stored for the id like any rule of the maths)."""
    market = market_for_trading(symbol, kind=MarketKind.PERP, opening=False)
    check_price_on_tick(reference_price, market, field="currentPrice")
    check_price_on_tick(take_profit_price, market, field="take_profit_price")
    check_price_on_tick(stop_loss_price, market, field="stop_loss_price")
    digest = position_request_hash(
        symbol=symbol, side=side, leverage=leverage, margin=margin, qty=qty, take_profit_price=take_profit_price,
        stop_loss_price=stop_loss_price,
    )  # fmt: skip
    command = Command(POSITION_OUTCOMES, user=user, client_order_id=client_order_id or _auto_id(), digest=digest)
    rules = perp_rules(market)
    halted = market.status == MarketStatus.HALTED

    def prepare(_books: Books) -> Prepared[OpenPlan]:
        if halted and not _holds_other_side(user=user, symbol=symbol, side=side):
            raise MarketHalted(extra={"symbol": symbol})  # re-checked under the lock (net_order_write)
        quote = price_get_latest(symbol=market.index_symbol)  # 503 price_unavailable / stale: nothing stored
        plan = plan_open(side=side, index_price=quote.price, leverage=leverage, margin=margin, qty=qty, rules=rules,
                         model=slippage_model())  # fmt: skip
        Tolerance(reference_price, slippage_pct).check(buys=side == "long", fill=plan.entry_price)
        check_tpsl(side=side, index_price=quote.price, band_pct=settings.TRADING_PRICE_BAND_PCT,
                   take_profit=take_profit_price, stop_loss=stop_loss_price)  # fmt: skip
        return Prepared(quote, plan)

    def write(books: Books, prepared: Prepared[OpenPlan], _locked: Locked) -> PositionOrder:
        step = net_order_write(command, books, prepared, symbol=symbol, rules=rules, halted=halted)
        tpsl_apply(step, side=side, index_price=prepared.quote.price, take_profit=take_profit_price,
                   stop_loss=stop_loss_price)  # fmt: skip
        return step_record(
            command, books, step, side=taker_side(side, opening=True), index_price=prepared.plan.index_price
        )

    record, replayed = command_run(command, prepare=prepare, write=write)
    return OpenedPosition(record.position, replayed)


def position_close(
    *,
    user: User,
    position_id: uuid.UUID | str,
    qty: Decimal | None = None,
    client_order_id: str | None = None,
    reference_price: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    quote: PriceQuote | None = None,
    created_by: User | None = None,
    trigger: Trigger | None = None,
) -> ClosedPosition:
    """Close all (``qty=None``) or a lot of an open position at the index against the taker.

    404 ``not_found`` for anyone else's position; 409 ``position_not_open`` once it is closed or
    liquidated (re-checked under the row lock, so a close racing the engine loses cleanly). A
    position the index has crossed is settled as its liquidation (the answer's event says so).
    Idempotent by ``client_order_id`` (generated when absent: the seed route and the admin).

    ``trigger`` (the TP/SL engine, with the tick's ``quote``): the take-profit or stop-loss that
    fired, re-checked under the row lock (``TriggerGone`` when it no longer holds: nothing
    written or stored); the close then carries its reason.
    """
    position = Position.objects.filter(pk=position_id, user=user).only("side", "symbol").first()
    if position is None:
        raise PositionNotFound(extra={"position_id": str(position_id)})
    market = perp_market_of(position.symbol)  # any status: closing is never blocked
    check_price_on_tick(reference_price, market, field="currentPrice")
    digest = close_request_hash(position_id=position_id, qty=qty)
    command = Command(POSITION_OUTCOMES, user=user, client_order_id=client_order_id or _auto_id(), digest=digest)
    rules = perp_rules(market)

    def prepare(_books: Books) -> Prepared[None]:
        if qty is not None:
            check_close_qty(close_qty=qty, rules=rules)
        if quote is not None and quote.symbol != market.index_symbol:
            raise ValueError(f"a {quote.symbol} quote cannot close a {market.symbol} position")
        return Prepared(quote or price_get_latest(symbol=market.index_symbol), None)

    def write(books: Books, prepared: Prepared[None], _locked: Locked) -> PositionOrder:
        tolerance = Tolerance(reference_price, slippage_pct)
        step = close_write(books, prepared, position_id=position_id, qty=qty, rules=rules, tolerance=tolerance,
                           trigger=trigger)  # fmt: skip
        side = taker_side(position.side, opening=False)
        return step_record(command, books, step, side=side, index_price=prepared.quote.price, created_by=created_by,
                           reason=trigger.kind if trigger else None)  # fmt: skip

    record, replayed = command_run(command, prepare=prepare, write=write)
    if record.event is None:  # only open orders backfilled from before net positions lack one
        raise RuntimeError(f"position order {record.pk} of a close has no event")
    return ClosedPosition(record.position, record.event, replayed)


UNCHANGED = object()  # a PATCH field that was not sent


def position_tpsl_set(
    *, user: User, position_id: uuid.UUID | str, take_profit_price: Decimal | None | object = UNCHANGED,
    stop_loss_price: Decimal | None | object = UNCHANGED,
) -> Position:  # fmt: skip
    """``PATCH /api/v1/positions/{id}``: set (a price), clear (``None``) or keep (not sent) the
    position's take-profit and stop-loss. 404 ``not_found`` for anyone else's position; 409
    ``position_not_open`` once it ended (re-checked under the row lock); a price being set must be
    on the tick (422 ``price_off_tick``), on its side of the index and within the band, and a
    stop-loss short of the liquidation price (``trading.tpsl``: 422, nothing changed). Moves no
    money: it locks the position row only. ``position_update`` (reason ``tpsl_updated``) on commit.

    The position's ``updated_at`` stays: it dates the size (so the liquidation price) a tick may
    judge, and a TP/SL edit must never hold back a liquidation."""
    position = Position.objects.filter(pk=position_id, user=user).only("symbol").first()
    if position is None:
        raise PositionNotFound(extra={"position_id": str(position_id)})
    market = perp_market_of(position.symbol)
    changes = {
        name: value
        for name, value in (("take_profit_price", take_profit_price), ("stop_loss_price", stop_loss_price))
        if value is not UNCHANGED
    }
    setting: dict[str, Decimal] = {name: value for name, value in changes.items() if isinstance(value, Decimal)}
    for name, value in setting.items():
        check_price_on_tick(value, market, field=name)
    quote = price_get_latest(symbol=market.index_symbol) if setting else None  # clearing needs no price
    with command_atomic():
        locked = position_lock(position_id=position_id)
        if locked.status != PositionStatus.OPEN:
            raise PositionNotOpen(extra={"position_id": str(locked.id), "status": locked.status})
        if quote is not None:
            try:
                check_tpsl(
                    side=locked.side, index_price=quote.price, band_pct=settings.TRADING_PRICE_BAND_PCT,
                    take_profit=setting.get("take_profit_price"), stop_loss=setting.get("stop_loss_price"),
                    liquidation_price=locked.liquidation_price,
                )  # fmt: skip
            except RuleViolation as violation:
                raise OrderRuleViolation(violation.message, code=violation.code, extra=violation.extra) from None
        for name, change in changes.items():
            setattr(locked, name, change)
        locked.save(update_fields=list(changes))
        position_update_emit(position=locked, reason="tpsl_updated")
    return locked


def _holds_other_side(*, user: User, symbol: str, side: str) -> bool:
    """Does the user hold an open position on ``symbol`` that an order of ``side`` would reduce?
    (No lock: a cheap early answer for a halted market; the write re-checks under the lock.)"""
    return Position.objects.filter(user=user, symbol=symbol, status="open").exclude(side=side).exists()


def _auto_id() -> str:
    return f"auto-{uuid.uuid4().hex}"
