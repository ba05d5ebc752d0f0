"""Limit entries for positions (docs/positions.md, "Limit entries"): ``POST /api/v1/positions``
with ``type: limit``. The entry is an ``Order`` on the perp market (``leverage`` set, buy = long,
sell = short) placed by a command like a spot limit (``ORDER_OUTCOMES``: its ``client_order_id``
lives with the orders'):

* marketable within its limit -> born ``filled``: the market order's open, at once, as the taker;
* otherwise ``ioc`` / ``fok`` -> born ``canceled``; ``gtc`` / ``gtd`` -> born ``new``, holding
  margin + taker fee at the limit price in USD (free -> locked, ``trading.services.resting``).

The engine (``position_entries_run``, after the tick's TP/SL and liquidations) fills a resting
entry on the first tick that crosses it: in one transaction -- the trader's USD row, their open
position on the market, then the order row (the global lock order), re-checked ``new`` and
crossed -- the hold is released and the order opens or increases the position at its limit price
as the maker, through the position command's own steps (``net_order_write``: a position the tick
had crossed is settled as its liquidation first; an entry on the other side of a position reduces
it, closes it or flips it). A rule the fill would break then (a halted market, the maximum
notional, a kept stop-loss beyond the new liquidation price) ends it ``rejected`` instead, its
hold released. The fill's ``PositionOrder`` (and a new position's ``client_order_id``) is
``entry:<order id>``, outside the ids a client may send. Cancel and expiry are the orders'
(``DELETE /api/v1/orders/{id}``, the sweep): they release the USD hold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import DomainError
from core.money import dec9
from core.timefmt import iso_utc_or_none
from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock, system_account_get
from pricing.markets import MarketSpec, market_for_trading
from pricing.models import MarketKind, MarketStatus
from pricing.selectors import PriceQuote, price_get_latest
from realtime.publish import user_event_emit
from trading.execution import RuleViolation
from trading.idempotency import fingerprint
from trading.limits import Hold, check_band
from trading.margin import OpenPlan, PerpRules
from trading.models import RESTING_LIMIT, Order, OrderStatus, OrderType, PositionOrder, Side, TimeInForce
from trading.perp_entries import EntryPlan, entry_crossed, order_side, plan_entry, plan_maker_open, position_side
from trading.perp_markets import check_price_on_tick, perp_market_of, perp_markets_by_index, perp_rules
from trading.services.command import Books, Command, Locked, Prepared, command_atomic, command_run
from trading.services.liquidation import price_gate
from trading.services.order_outcomes import order_finish
from trading.services.order_states import hold_release, order_event_data, order_transition
from trading.services.orders import ORDER_OUTCOMES, slippage_model
from trading.services.position_book import open_position_lock
from trading.services.position_steps import Step, net_order_write, step_record, tpsl_apply
from trading.services.position_triggers import tick_quote
from trading.services.positions import POSITION_OUTCOMES
from trading.services.resting import Birth, order_born
from trading.trigger_pg import trigger_statements

logger = logging.getLogger("trading.triggers")


@dataclass(frozen=True)
class PlacedEntry:
    order: Order
    position_order: PositionOrder | None  # filled at once: what it did to the position
    replayed: bool


def entry_client_order_id(order_id: object) -> str:
    return f"entry:{order_id}"


@dataclass(frozen=True)
class EntryTerms:
    """A limit entry's terms (a placement's, or a replace's: the old entry's with the changes)."""

    market: MarketSpec
    side: str  # long | short
    leverage: Decimal
    limit_price: Decimal
    margin: Decimal | None
    qty: Decimal | None
    time_in_force: str
    expire_at: datetime | None

    def digest(self, **extra: str) -> str:
        return fingerprint(
            {"type": OrderType.LIMIT, "symbol": self.market.symbol, "side": self.side, "leverage": self.leverage,
             "margin": self.margin, "qty": self.qty, "limit_price": self.limit_price,
             "time_in_force": self.time_in_force, "expire_at": self.expire_at.isoformat() if self.expire_at else None,
             **extra}
        )  # fmt: skip

    def prepare(self, _books: Books) -> Prepared[EntryPlan]:
        """The band, then the size, hold and taker open at the index (no lock held)."""
        quote = price_get_latest(symbol=self.market.index_symbol)
        check_band(price=self.limit_price, index_price=quote.price, band_pct=settings.TRADING_PRICE_BAND_PCT)
        plan = plan_entry(
            side=self.side, index_price=quote.price, limit_price=self.limit_price, leverage=self.leverage,
            margin=self.margin, qty=self.qty, rules=perp_rules(self.market), model=slippage_model(),
        )  # fmt: skip
        return Prepared(quote, plan)


def position_entry_place(
    *,
    user: User,
    client_order_id: str,
    symbol: str,
    side: str,
    leverage: Decimal,
    limit_price: Decimal,
    margin: Decimal | None = None,
    qty: Decimal | None = None,
    time_in_force: str = TimeInForce.GTC,
    expire_at: datetime | None = None,
) -> PlacedEntry:
    """Place a limit entry: filled at once (the taker), canceled (ioc/fok) or resting with its hold.
    A halted market refuses it (422 ``market_halted``, nothing stored); off the tick 422
    ``price_off_tick`` (nothing stored); the band, leverage and size rules are stored rejections."""
    market = market_for_trading(symbol, kind=MarketKind.PERP, opening=True)
    check_price_on_tick(limit_price, market, field="limit_price")
    terms = EntryTerms(market, side, leverage, limit_price, margin, qty, time_in_force, expire_at)
    command = Command(ORDER_OUTCOMES, user=user, client_order_id=client_order_id, digest=terms.digest())

    def write(books: Books, prepared: Prepared[EntryPlan], locked: Locked) -> Order:
        return entry_write(command, terms, books=books, prepared=prepared, locked=locked)

    order, replayed = command_run(command, prepare=terms.prepare, write=write)
    return PlacedEntry(order, entry_record(order), replayed)


def entry_write(
    command: Command[Order], terms: EntryTerms, *, books: Books, prepared: Prepared[EntryPlan], locked: Locked,
    replaces: Order | None = None,
) -> Order:  # fmt: skip
    """The entry born: resting with its hold (or canceled, ioc/fok) when not marketable within its
    limit, else filled at once as the taker; ``replaces``: the order a replace ended."""
    plan = prepared.plan
    fields = {"limit_price": terms.limit_price, "time_in_force": terms.time_in_force, "expire_at": terms.expire_at,
              "leverage": terms.leverage}  # fmt: skip
    if plan.taker is None:
        birth = Birth(terms.market, OrderType.LIMIT, order_side(terms.side), plan.qty, Hold("USD", plan.hold), fields)
        reason = "not marketable within its limit" if plan.crossed else "not marketable"
        return order_born(command, books=books, quote=prepared.quote, locked=locked, birth=birth, reason=reason,
                          replaces=replaces)  # fmt: skip
    order = Order.objects.create(
        user=command.user, client_order_id=command.client_order_id, symbol=terms.market.symbol,
        side=order_side(terms.side), type=OrderType.LIMIT, qty=plan.qty, status=OrderStatus.FILLED,
        index_price=prepared.quote.price, price_source=prepared.quote.source_label, epoch=books.account.epoch,
        request_hash=command.digest, replaces=replaces, **fields,
    )  # fmt: skip
    taker = Prepared(prepared.quote, plan.taker)
    _entry_write(order, command.user, books, taker, rules=perp_rules(terms.market), halted=False, liquidity="taker")
    return order


def entry_record(order: Order) -> PositionOrder | None:
    """A filled entry's position record (and through it the position it left)."""
    if order.status != OrderStatus.FILLED:
        return None
    found = PositionOrder.objects.select_related("position").filter(
        user_id=order.user_id, client_order_id=entry_client_order_id(order.id)
    )
    return found.first()


def _entry_write(
    order: Order, user: User, books: Books, prepared: Prepared[OpenPlan], *, rules: PerpRules, halted: bool,
    liquidity: str,
) -> Step:  # fmt: skip
    """The entry's open (``prepared.plan``) on the trader's net position, its record, the order
    shown filled and ``order_fill``, then ``position_update`` + ``portfolio_update``. Inside the
    caller's transaction, the balance row locked (a resting entry's hold already released)."""
    position_command = Command(
        POSITION_OUTCOMES, user=user, client_order_id=entry_client_order_id(order.id), digest=order.request_hash
    )
    plan = prepared.plan
    step = net_order_write(position_command, books, prepared, symbol=order.symbol, rules=rules, halted=halted)
    tpsl_apply(step, side=plan.side, index_price=plan.index_price, take_profit=None, stop_loss=None)
    now = timezone.now()
    if order.status == OrderStatus.NEW:
        order_transition(order, OrderStatus.FILLED, now=now)
    else:  # born filled (the taker on arrival)
        order.filled_at = now
    # step.qty: all of it, but a flip's rest below the minimum is not opened (as for a market order)
    order.filled_qty, order.filled_avg_price, order.fee = step.qty, step.price, step.fee
    order.slippage_bps = plan.slippage_bps if liquidity == "taker" else Decimal(0)
    order.index_price = plan.index_price
    order.save()
    data = {
        **order_event_data(order), "fill_id": None, "price": dec9(step.price), "fee": dec9(step.fee),
        "notional": dec9(plan.notional), "liquidity": liquidity, "position_id": str(step.position.id),
        "filled_at": iso_utc_or_none(order.filled_at),
    }  # fmt: skip
    user_event_emit(user_id=order.user_id, event_type="order_fill", data=data)
    step_record(position_command, books, step, side=order.side, index_price=plan.index_price)
    return step


# --- the engine: resting entries a tick crossed ------------------------------------------------


@dataclass
class EntryReport:
    filled: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # crossed, but the fill broke a rule: ended, hold released
    skipped: int = 0  # crossed when listed, no longer open or crossed under the lock
    gate: str | None = None


def crossed_entries(*, price: Decimal, symbols: Sequence[str], before: datetime) -> list[tuple[UUID, int, str]]:
    """``(order id, user id, symbol)`` of the resting entries of ``symbols`` the tick ``price``
    crosses (a long's limit at or above it, a short's at or below), placed at or before the tick,
    oldest first: the resting-limit index (``RESTING_LIMIT``, by symbol, side and limit price)."""
    resting = Order.objects.filter(RESTING_LIMIT, symbol__in=list(symbols), created_at__lte=before)
    longs = resting.filter(side=Side.BUY, limit_price__gte=price).values_list("id", "user_id", "symbol", "created_at")
    shorts = resting.filter(side=Side.SELL, limit_price__lte=price).values_list("id", "user_id", "symbol", "created_at")
    rows = sorted(longs.union(shorts, all=True), key=lambda row: (row[3], row[0]))  # one range scan per side
    return [(order_id, user_id, symbol) for order_id, user_id, symbol, _at in rows]


def entries_may_cross(*, price: Decimal, symbols: Sequence[str]) -> bool:
    """False when ``price`` crosses no resting entry of ``symbols`` (one statement: the
    resting-limit index's ends, ``trading.trigger_pg``'s ``limit_ends``)."""
    top_buy, low_sell = trigger_statements().limit_ends(symbols=symbols)
    return (top_buy is not None and top_buy >= price) or (low_sell is not None and low_sell <= price)


def position_entries_run(
    *, index_symbol: str, price: Decimal, computed_at: datetime, now: datetime | None = None
) -> EntryReport:
    """Fill the resting entries of ``index_symbol``'s perp markets that its tick crossed (at a
    fresh tick only: ``price_gate``); a failure on one is logged and the others still fill."""
    report = EntryReport()
    symbols = perp_markets_by_index().get(index_symbol, [])
    if not symbols or not entries_may_cross(price=price, symbols=symbols):
        return report  # a quiet tick: the probe of the resting-limit index's ends, and nothing else
    rows = crossed_entries(price=price, symbols=symbols, before=computed_at)
    if not rows:
        return report
    report.gate = price_gate(price=price, computed_at=computed_at, index_symbol=index_symbol, now=now)
    if report.gate:
        logger.warning("limit entries on %s skipped at %s: %s", index_symbol, price, report.gate)
        return report
    quote = tick_quote(index_symbol, price=price, computed_at=computed_at)
    user_ids = {user_id for _id, user_id, _symbol in rows}
    users = User.objects.in_bulk(user_ids)
    accounts = {a.user_id: a for a in LedgerAccount.objects.filter(user_id__in=user_ids)}
    system = [system_account_get(code=code) for code in ("house", "fees", "insurance")]
    for order_id, user_id, symbol in rows:
        books = Books(accounts[user_id], *system)
        try:
            outcome = _fill_resting(order_id, user=users[user_id], symbol=symbol, books=books, quote=quote)
        except Exception:
            logger.exception("limit entry %s: fill failed", order_id)
            outcome = None
        if outcome == OrderStatus.FILLED:
            report.filled.append(str(order_id))
        elif outcome == OrderStatus.REJECTED:
            report.rejected.append(str(order_id))
        else:
            report.skipped += 1
    return report


def _fill_resting(order_id: UUID, *, user: User, symbol: str, books: Books, quote: PriceQuote) -> str | None:
    """One entry in its own transaction: the USD row, the open position on its market, the order
    (the lock order), re-checked; filled, or rejected when the fill breaks a rule (a savepoint
    takes the fill's writes back; the hold is then released with the rejection)."""
    with command_atomic():
        balance_lock(keys=[(books.account, Asset.USD, 0)])
        open_position_lock(user=user, symbol=symbol)
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        if order.status != OrderStatus.NEW or order.limit_price is None or order.qty is None or not order.leverage:
            return None
        side = position_side(order.side)
        if not entry_crossed(side, limit_price=order.limit_price, price=quote.price):
            return None
        market = perp_market_of(order.symbol)
        try:
            with transaction.atomic():
                hold_release(order, account=books.account, reason="filled")
                plan, maker = plan_maker_open(
                    side=side, index_price=quote.price, limit_price=order.limit_price, qty=order.qty,
                    leverage=order.leverage, rules=perp_rules(market), maker_fee_bps=settings.TRADING_MAKER_FEE_BPS,
                )  # fmt: skip
                _entry_write(order, user, books, Prepared(quote, plan), rules=maker,
                             halted=market.status != MarketStatus.ACTIVE, liquidity="maker")  # fmt: skip
        except (RuleViolation, DomainError) as error:
            order.refresh_from_db()
            order_finish(order, to=OrderStatus.REJECTED, account=books.account, reason=error.message, code=error.code)
            return OrderStatus.REJECTED
    return OrderStatus.FILLED
