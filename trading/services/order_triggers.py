"""The trigger engine: on every accepted tick of a token's index, fill the resting limit orders
of that index's spot markets that the tick crossed, as the maker, at their own limit price.

* Candidates: one indexed query (``order_open_sym_side_limit``: resting limits only, by symbol,
  side and limit price; a buy at or above the ask the tick shows, a sell at or below its bid, the
  index when the record has none), oldest first, resting before the tick. A tick that crosses
  nothing costs that one query.
* Batches of up to ``TRADING_TRIGGER_BATCH`` candidates, each one durable transaction of a fixed
  number of statements whatever its size (``trading.services.trigger_batch``): the owners' USD and
  base balance rows, then the orders, re-checked resting and still crossed under that lock (one
  ``UPDATE ... RETURNING``) -- so a cancel, an expiry, a replace, a second engine run and the tick
  race to exactly one outcome, and the hold is released exactly once (in the fill's ledger
  transaction). If a batch fails, its orders are filled one per transaction (``_fill_resting``).
* Fan-out (real stack, PostgreSQL, more candidates than one batch): the candidates are split into
  up to ``TRADING_TRIGGER_LANES`` lanes that share no locked row (whole ledger shard classes, the
  liquidation engine's ``lanes_split``: a trader's orders all in one lane, in their order); the
  tick's task runs the first lane and enqueues the others as ``trading.fill_resting_lane`` tasks.
  A lane re-reads its orders by id and re-checks each under its lock; whatever a lost lane leaves
  resting, the next tick or the sweep finds again.

Run after the tick's liquidations and stop triggers (``trading.tasks.liquidate_on_tick``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.jobs import enqueue
from portfolio.models import Asset, LedgerAccount
from portfolio.services import balance_lock, system_account_get
from pricing.markets import MarketSpec, registry_get
from pricing.models import MarketStatus
from trading.limits import is_crossed, plan_maker_fill
from trading.models import RESTING_LIMIT, Order, OrderStatus, Side
from trading.services.command import command_atomic
from trading.services.liquidation_lanes import lanes_split, lanes_wanted
from trading.services.order_states import order_transition
from trading.services.spot_fill import spot_fill_write
from trading.services.trigger_batch import SystemAccounts, Touch, fill_batch
from trading.trigger_pg import ORDER_FIELDS, Resting, resting, trigger_statements

logger = logging.getLogger("trading.triggers")

__all__ = ["Touch", "TriggerReport", "crossed_orders", "order_triggers_lane_run", "order_triggers_run"]

FILL_LANE_TASK = "trading.fill_resting_lane"


@dataclass
class TriggerReport:
    filled: list[str] = field(default_factory=list)  # by this process (the first lane)
    skipped: int = 0  # crossed when listed, but no longer open or crossed under the lock
    candidates: int = 0
    lanes: int = 0  # lanes the candidates were split into (1 = all here)
    dispatched: int = 0  # candidates handed to other lanes (``trading.fill_resting_lane`` tasks)


def _spot_markets(index_symbol: str) -> dict[str, MarketSpec]:
    return {m.symbol: m for m in registry_get().markets.values() if m.index_symbol == index_symbol and not m.is_perp}


def crossed_orders_query(*, symbols: list[str], touch: Touch, before: datetime) -> QuerySet | None:
    """The candidates' query (``crossed_orders``; the bench EXPLAINs it), or None when the tick
    crosses none (``limit_ends``, ``trading.trigger_pg``: a probe of the index's ends, one
    statement of fixed text). Per side crossed, a range scan of the partial index
    ``order_open_sym_side_limit`` under its own predicate (``RESTING_LIMIT``), bounded by the
    probe's end; both sides in one ``UNION ALL``. One query with ``(buy AND limit >=
    ask) OR (sell AND limit <= bid)`` was planned as a scan of every resting order: the planner
    multiplies the side's selectivity by the price range's (the limit prices of both sides in one
    histogram), so at 100,000 orders it expected 25,000 rows of a tick that crosses none; the bound
    keeps its estimate near the rows really crossed."""
    top_buy, low_sell = trigger_statements().limit_ends(symbols=symbols)
    buys = top_buy is not None and top_buy >= touch.buy
    sells = low_sell is not None and low_sell <= touch.sell
    if not (buys or sells):
        return None  # no queryset built: a quiet tick costs the probe alone
    # A stop-limit rests as a limit from when its stop triggered: not on the tick that triggered it.
    rested = Q(triggered_at__isnull=True) | Q(triggered_at__lte=before)
    resting = Order.objects.filter(RESTING_LIMIT, rested, symbol__in=symbols, created_at__lte=before)
    sides = []
    if buys:
        sides.append(resting.filter(side=Side.BUY, limit_price__gte=touch.buy, limit_price__lte=top_buy))
    if sells:
        sides.append(resting.filter(side=Side.SELL, limit_price__lte=touch.sell, limit_price__gte=low_sell))
    first, *other = (side.values_list(*ORDER_FIELDS) for side in sides)
    return (first.union(*other, all=True) if other else first).order_by("created_at", "id")


def crossed_orders(*, symbols: list[str], touch: Touch, before: datetime) -> list[Resting]:
    """The resting limit orders of ``symbols`` the tick crosses, oldest first: the probe of the
    index's ends (a tick that crosses none stops there), the indexed range scans, then one query
    for their traders' ledger accounts (not a join: with one, the planner chose hash joins over
    every account and, with them, a parallel scan of every order)."""
    return _with_accounts(_crossed_rows(symbols=symbols, touch=touch, before=before))


def _crossed_rows(*, symbols: list[str], touch: Touch, before: datetime) -> list[tuple]:
    """``crossed_orders`` without the accounts: the orders' rows in ``ORDER_FIELDS``' order."""
    query = crossed_orders_query(symbols=symbols, touch=touch, before=before)
    return list(query) if query is not None else []


def _with_accounts(rows: list[tuple]) -> list[Resting]:
    """The ``Resting`` of each row: its trader's ledger account read (one statement for all)."""
    if not rows:
        return []
    accounts = trigger_statements().accounts_get(user_ids=sorted({row[_USER] for row in rows}))
    return [resting((*row, *accounts[row[_USER]])) for row in rows]


_ID, _SYMBOL, _USER, _SIDE = (ORDER_FIELDS.index(name) for name in ("id", "symbol", "user_id", "side"))


def order_triggers_run(
    *, index_symbol: str, price: Decimal, computed_at: datetime, bid: Decimal | None = None, ask: Decimal | None = None
) -> TriggerReport:
    """Fill what the tick of ``index_symbol`` crossed; a failure on one order is logged, the
    others still fill. The other lanes are handed over before this one reads its traders'
    accounts: they start as soon as the candidates are known."""
    report = TriggerReport()
    markets = _spot_markets(index_symbol)
    if not markets:
        return report
    touch = Touch(index=price, buy=ask if ask is not None else price, sell=bid if bid is not None else price)
    crossed = [row for row in _crossed_rows(symbols=list(markets), touch=touch, before=computed_at)
               if not (row[_SIDE] == Side.BUY and markets[row[_SYMBOL]].status == MarketStatus.HALTED)]  # fmt: skip
    if not crossed:  # a halted market's buys wait for it to resume (a halt refuses buys)
        return report
    report.candidates = len(crossed)
    by_id = {row[_ID]: row for row in crossed}
    lanes = lanes_split([(row[_ID], row[_USER]) for row in crossed], lanes=_lanes_wanted(len(crossed)),
                        shards=settings.LEDGER_SYSTEM_SHARDS)  # fmt: skip
    report.lanes = len(lanes)
    for lane in lanes[1:]:
        if _lane_dispatch(ids=lane, index_symbol=index_symbol, touch=touch, computed_at=computed_at):
            report.dispatched += len(lane)
        else:  # no broker: this process does it too
            lanes[0] += lane
    mine = _with_accounts([by_id[order_id] for order_id in lanes[0]])
    report.filled = orders_fill_all(mine, touch=touch, before=computed_at, markets=markets)
    report.skipped = len(mine) - len(report.filled)
    if len(crossed) > 1:
        logger.info(
            "filled %d of %d crossed orders on %s (%d handed to %d other lanes)",
            len(report.filled), len(crossed), index_symbol, report.dispatched, max(0, report.lanes - 1),
        )  # fmt: skip
    return report


def order_triggers_lane_run(
    *, ids: Sequence, index_symbol: str, touch: Touch, computed_at: datetime
) -> list[str]:  # fmt: skip
    """A lane handed over by a tick: its orders read again by id (those still resting), then the
    batches (each re-checks every order under its lock). Returns the ids filled."""
    markets = _spot_markets(index_symbol)
    rows = trigger_statements().resting_get(ids=list(ids))
    return orders_fill_all([r for r in rows if r.symbol in markets], touch=touch, before=computed_at, markets=markets)


def orders_fill_all(
    rows: list[Resting], *, touch: Touch, before: datetime, markets: dict[str, MarketSpec]
) -> list[str]:  # fmt: skip
    """``fill_batch`` in batches of ``TRADING_TRIGGER_BATCH``, in the rows' order; a batch that
    fails is filled one order per transaction."""
    if not rows:
        return []
    size = max(1, settings.TRADING_TRIGGER_BATCH)
    assets = {symbol: market.asset for symbol, market in markets.items()}
    system = SystemAccounts(house=system_account_get(code="house"), fees=system_account_get(code="fees"))
    done: list[str] = []
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        try:
            done += fill_batch(rows=batch, touch=touch, before=before, assets=assets, system=system)
        except Exception:
            logger.exception("trigger batch of %d failed; filling one by one", len(batch))
            done += orders_fill_each(batch, touch=touch, markets=markets, system=system)
    return done


def orders_fill_each(
    rows: list[Resting], *, touch: Touch, markets: dict[str, MarketSpec], system: SystemAccounts | None = None
) -> list[str]:
    """The one-order path over ``rows``: one transaction per order (a batch's fallback; the
    bench's "before")."""
    if system is None:
        system = SystemAccounts(house=system_account_get(code="house"), fees=system_account_get(code="fees"))
    done: list[str] = []
    for row in rows:
        account = LedgerAccount(pk=row.account_id, kind=LedgerAccount.Kind.USER, user_id=row.user_id, epoch=row.epoch)
        try:
            filled = _fill_resting(
                row.id, touch=touch, market=markets[row.symbol], account=account, house=system.house, fees=system.fees
            )
        except Exception:
            logger.exception("trigger fill of order %s failed", row.id)
            filled = False
        if filled:
            done.append(str(row.id))
    return done


def _lanes_wanted(candidates: int) -> int:
    """The lanes of a tick's ``candidates`` (``lanes_wanted`` with the trigger engine's knobs)."""
    return lanes_wanted(candidates, lanes=settings.TRADING_TRIGGER_LANES, batch=settings.TRADING_TRIGGER_BATCH)


def _lane_dispatch(*, ids: list, index_symbol: str, touch: Touch, computed_at: datetime) -> bool:
    """Enqueue ``trading.fill_resting_lane`` for ``ids``; False (logged) if the broker refused."""
    try:
        enqueue(
            FILL_LANE_TASK, [str(i) for i in ids], index_symbol, str(touch.index), str(touch.buy), str(touch.sell),
            computed_at.isoformat(),
        )  # fmt: skip
        return True
    except Exception:
        logger.warning("could not enqueue a trigger lane of %d orders; running it here", len(ids), exc_info=True)
        return False


def _fill_resting(
    order_id: UUID | str, *, touch: Touch, market: MarketSpec, account: LedgerAccount, house: LedgerAccount,
    fees: LedgerAccount,
) -> bool:  # fmt: skip
    """The one-order path: one transaction, the trader's balance rows, then the order row
    re-checked open and crossed, then ``spot_fill_write``."""
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
