"""One batch of the trigger engine as one durable transaction (see ``trading.services.order_triggers``).

The algorithm, for either database: plan each order's maker fill (pure maths,
``trading.limits.plan_maker_fill``); lock the owners' USD and base-asset balance rows first (the
global lock order); take ``new -> filled`` for the orders still resting and still crossed (the row
lock and the re-check in one step); post one ``trade`` ledger transaction per order (the release
of its hold and the trade's legs, as ``trading.services.spot_fill`` posts them); insert the fills;
lock the spot books and write their new figures (``portfolio.services.book_after_fill``, in the
orders' order); store ``order_fill`` + ``portfolio_update`` per order, published after commit.
The statements are ``trading.trigger_pg``'s: on PostgreSQL a fixed number whatever the batch
size, on SQLite the ORM twins. Outcomes -- orders, fills, ledger, balances, books, events -- are
the one-order path's (``order_triggers._fill_resting``) to the last digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import NamedTuple
from uuid import uuid4

from django.conf import settings
from django.db import transaction

from core.timefmt import iso_utc
from portfolio.models import Asset, LedgerAccount
from portfolio.services import Book, book_after_fill
from portfolio.services.trade_postings import SpotTrade, ledger_post_trades, trade_deltas, trades_lock
from realtime.publish import RawJSON, user_events_emit_many
from trading.events import order_fill_json, portfolio_update_json
from trading.execution import Execution
from trading.limits import plan_maker_fill
from trading.models import OrderStatus
from trading.trigger_pg import HoldingRow, Resting, TriggerStatements, trigger_statements


@dataclass(frozen=True)
class Touch:
    """What a tick shows each side: a buy meets the ask, a sell the bid."""

    index: Decimal
    buy: Decimal
    sell: Decimal


@dataclass(frozen=True)
class SystemAccounts:
    house: LedgerAccount
    fees: LedgerAccount


class _Filled(NamedTuple):
    n: int  # its place in the batch
    order: Resting
    plan: Execution
    asset: str  # the market's base asset


def fill_batch(
    *,
    rows: Sequence[Resting],
    touch: Touch,
    before: datetime,
    assets: Mapping[str, str],
    system: SystemAccounts,
    sql: TriggerStatements | None = None,
) -> list[str]:
    """Fill those of ``rows`` (resting orders, oldest first, of the markets ``assets``: symbol ->
    base asset) still resting and crossed by ``touch`` and resting by ``before`` (the tick's time),
    as the maker at their limit price; the ids filled, as text. ``sql``: the statement set
    (default: the connection's; tests run the ORM twins on PostgreSQL too)."""
    if not rows:
        return []
    return _fill(rows, touch=touch, before=before, assets=assets, system=system, sql=sql or trigger_statements())


def _fill(
    rows: Sequence[Resting], *, touch: Touch, before: datetime, assets: Mapping[str, str], system: SystemAccounts,
    sql: TriggerStatements,
) -> list[str]:  # fmt: skip
    fee_bps = settings.TRADING_MAKER_FEE_BPS
    plans = [
        plan_maker_fill(side=r.side, qty=r.qty, limit_price=r.limit_price, index_price=touch.index, fee_bps=fee_bps)
        for r in rows
    ]
    trades = [_trade(r, plans[n], assets[r.symbol]) for n, r in enumerate(rows)]
    with transaction.atomic(durable=True):
        locked = trades_lock(trades=trades, house=system.house, fees=system.fees)
        now = datetime.now(timezone.utc)
        planned = [(n, r.id, r.side, r.qty, r.limit_price, r.held, plans[n].fee) for n, r in enumerate(rows)]
        taken = sql.transition(
            plans=planned, buy=touch.buy, sell=touch.sell, index=touch.index, before=before, symbols=list(assets),
            now=now,
        )  # fmt: skip
        if not taken:
            return []
        done = [_Filled(n, r, plans[n], assets[r.symbol]) for n, r in enumerate(rows) if n in taken]
        txn_ids = ledger_post_trades(  # every row it posts to is locked above, unchanged since: none locked again
            trades=[trades[f.n] for f in done],
            house=system.house,
            fees=system.fees,
            locked=locked,
            post=sql.trades_post,
        )
        fill_ids = [str(uuid4()) for _ in done]
        sql.fills_insert(
            rows=[
                (fill_id, f.order.id, f.order.user_id, f.order.symbol, f.plan.side, f.plan.qty, f.plan.price,
                 f.plan.notional, f.plan.fee, txn_id)
                for f, fill_id, txn_id in zip(done, fill_ids, txn_ids, strict=True)
            ],
            now=now,
        )  # fmt: skip
        books = _books_apply(sql, done, now=now)
        _announce(done, trades=trades, fill_ids=fill_ids, books=books, locked=locked, now=now)
    return [f.order.id for f in done]


def _trade(order: Resting, plan: Execution, asset: str) -> SpotTrade:
    """The order's posting as the one-order path makes it (``spot_fill_write``): the release of its
    hold and the trade, one ``trade`` transaction referring to the order."""
    return SpotTrade(
        order.account_id, order.user_id, asset, order.held_asset or asset, order.held, plan.side, plan.qty,
        plan.notional, plan.fee, order.id, f"{plan.side} {plan.qty} {asset} @ {plan.price}",
    )  # fmt: skip


def _books_apply(sql: TriggerStatements, done: list[_Filled], *, now: datetime) -> list[Book]:
    """Lock the spot books the fills touch (creating the missing ones), apply the fills in order,
    write the new figures; answers each fill's book after it (for its ``portfolio_update``)."""
    held = sql.holdings_lock(keys=sorted({(f.order.account_id, f.asset) for f in done}), now=now)
    current = {key: Book(*row[1:]) for key, row in held.items()}
    after = []
    for f in done:
        key = (f.order.account_id, f.asset)
        current[key] = book_after_fill(
            current[key], side=f.plan.side, qty=f.plan.qty, notional=f.plan.notional, fee=f.plan.fee
        )
        after.append(current[key])
    changed: list[HoldingRow] = [(held[key][0], *book) for key, book in current.items() if book != Book(*held[key][1:])]
    sql.holdings_save(rows=changed, now=now)
    return after


def _announce(
    done: list[_Filled],
    *,
    trades: Sequence[SpotTrade],
    fill_ids: list[str],
    books: list[Book],
    locked: Mapping[tuple[int, str, int], tuple[int, Decimal, Decimal, bool]],
    now: datetime,
) -> None:
    """Per order, in order, what the one-order path stores: ``order_fill``, then
    ``portfolio_update`` with the trader's USD and base rows and the base's book as that fill left
    them (the rows were locked before the first posting, so their state is what was read plus the
    legs posted so far); stored with the users' next seqs and published after commit. Each
    payload is written as JSON text directly (``trading.events``: thousands a tick)."""
    balances = {(account_id, asset): (total, held) for (account_id, asset, _s), (_i, total, held, _n) in locked.items()}
    filled_at = iso_utc(now)
    events: list[tuple[int, str, RawJSON]] = []
    for f, fill_id, book in zip(done, fill_ids, books, strict=True):
        order, plan, account_id = f.order, f.plan, f.order.account_id
        for asset, d_total, d_locked in trade_deltas(
            trades[f.n]
        ):  # its posting onto the running state of the trader's rows
            total, held = balances[(account_id, asset)]
            balances[(account_id, asset)] = (total + d_total, held + d_locked)
        rows = [(str(asset), *balances[(account_id, asset)]) for asset in (Asset.USD, f.asset)]
        fill = order_fill_json(
            order_id=f.order.id, client_order_id=order.client_order_id, fill_id=fill_id, symbol=order.symbol,
            side=plan.side, qty=plan.qty, price=plan.price, notional=plan.notional, fee=plan.fee, liquidity="maker",
            status=OrderStatus.FILLED.value, filled_at=filled_at,
        )  # fmt: skip
        portfolio = portfolio_update_json(
            epoch=order.epoch,
            balances=rows,
            book=(f.asset, book.qty, book.cost_basis, book.realized_pnl, book.fees_paid),
        )
        events += [(order.user_id, "order_fill", fill), (order.user_id, "portfolio_update", portfolio)]
    user_events_emit_many(events)
