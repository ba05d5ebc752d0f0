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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import NamedTuple
from uuid import uuid4

from django.conf import settings
from django.db import transaction

from core.timefmt import iso_utc
from portfolio.models import Asset, Bucket, LedgerAccount, LedgerReason
from portfolio.services import (
    Book,
    Leg,
    Posting,
    balance_rows_lock,
    book_after_fill,
    ledger_post_many_ids,
    shard_for,
)
from realtime.publish import RawJSON, user_events_emit_many
from trading.events import order_fill_json, portfolio_update_json
from trading.execution import Execution
from trading.limits import plan_maker_fill
from trading.models import OrderStatus
from trading.services.spot_fill import release_legs, trade_legs
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


Deltas = tuple[tuple[str, Decimal, Decimal], ...]  # a posting's ``(asset, d_total, d_locked)`` on its trader's rows


class _Filled(NamedTuple):
    n: int  # its place in the batch
    order: Resting
    plan: Execution
    asset: str  # the market's base asset
    deltas: Deltas


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
    accounts = _accounts(rows)
    fee_bps = settings.TRADING_MAKER_FEE_BPS
    plans = [
        plan_maker_fill(side=r.side, qty=r.qty, limit_price=r.limit_price, index_price=touch.index, fee_bps=fee_bps)
        for r in rows
    ]

    def legs_of(n: int) -> list[Leg]:
        """The ``n``-th order's legs, built where they are used and let go (the garbage collector
        never sees thousands of them live: docs/trading.md)."""
        r = rows[n]
        return _legs(r, plans[n], accounts[r.account_id], system, assets[r.symbol])

    keys, deltas = _posted(rows, legs_of)
    with transaction.atomic(durable=True):
        locked = balance_rows_lock(keys=keys)
        now = datetime.now(timezone.utc)
        planned = [(n, r.id, r.side, r.qty, r.limit_price, r.held, plans[n].fee) for n, r in enumerate(rows)]
        taken = sql.transition(
            plans=planned, buy=touch.buy, sell=touch.sell, index=touch.index, before=before, symbols=list(assets),
            now=now,
        )  # fmt: skip
        if not taken:
            return []
        done = [_Filled(n, r, plans[n], assets[r.symbol], deltas[n]) for n, r in enumerate(rows) if n in taken]
        txn_ids = ledger_post_many_ids(
            postings=(
                Posting(
                    reason=LedgerReason.TRADE,
                    legs=legs_of(f.n),
                    reference_type="order",
                    reference_id=f.order.id,
                    memo=f"{f.plan.side} {f.plan.qty} {f.asset} @ {f.plan.price}",
                    shard_key=f.order.user_id,
                )  # fmt: skip
                for f in done
            ),
            locked=locked,  # every row it posts to is locked above, nothing changed them since: none locked again
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
        _announce(done, fill_ids=fill_ids, books=books, locked=locked, now=now)
    return [f.order.id for f in done]


def _posted(
    rows: Sequence[Resting], legs_of: Callable[[int], list[Leg]]
) -> tuple[list[tuple[LedgerAccount, str, int]], list[Deltas]]:
    """Every balance row the batch's postings touch (a leg of 0 is never posted): the owners' USD
    and base rows and the system shards' (``house``, ``fees``) -- all locked first, in one
    statement, users' rows before the system rows (the global lock order); and per order what its
    posting adds to its trader's rows, as plain values (its ``portfolio_update``)."""
    shards = max(1, settings.LEDGER_SYSTEM_SHARDS)
    keys: dict[tuple[int, str, int], LedgerAccount] = {}
    deltas: list[Deltas] = []
    for n, r in enumerate(rows):
        mine: dict[str, tuple[Decimal, Decimal]] = {}
        for leg in legs_of(n):
            if leg.amount:
                keys[(leg.account.id, leg.asset, shard_for(leg.account, r.user_id, shards))] = leg.account
            if leg.account.id == r.account_id:
                d_total, d_locked = mine.get(leg.asset, _NOTHING)
                mine[leg.asset] = (
                    d_total + leg.amount,
                    d_locked + leg.amount if leg.bucket == Bucket.LOCKED else d_locked,
                )
        deltas.append(tuple((str(asset), d_total, d_locked) for asset, (d_total, d_locked) in mine.items()))
    return [(account, asset, shard) for (_id, asset, shard), account in keys.items()], deltas


_NOTHING = (Decimal(0), Decimal(0))


def _accounts(rows: Sequence[Resting]) -> dict[int, LedgerAccount]:
    """The owners' ledger accounts, from the candidates' joined columns (an account's epoch cannot
    change under an open order: a reset is refused while funds are held)."""
    alias = transaction.get_connection().alias
    accounts: dict[int, LedgerAccount] = {}
    for r in rows:
        if r.account_id not in accounts:  # ``from_db``: no per-field work
            accounts[r.account_id] = LedgerAccount.from_db(
                alias, _ACCOUNT_FIELDS, (r.account_id, "user", r.user_id, r.epoch)
            )
    return accounts


_ACCOUNT_FIELDS = ["id", "kind", "user_id", "epoch"]


def _legs(order: Resting, plan: Execution, account: LedgerAccount, system: SystemAccounts, asset: str) -> list[Leg]:
    """The one-order path's legs, in its order: the release of the hold, then the trade."""
    legs = release_legs(account=account, asset=order.held_asset or asset, amount=order.held)
    return legs + trade_legs(account=account, house=system.house, fees=system.fees, plan=plan, asset=asset)


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
        for asset, d_total, d_locked in f.deltas:  # its posting onto the running state of the trader's rows
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
