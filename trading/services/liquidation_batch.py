"""One liquidation batch as one durable transaction (see ``trading.services.liquidation``).

The algorithm, for either database: read the owners' ledger accounts; lock their USD balance
rows first (the global lock order), then take ``open -> liquidated`` for the positions still open
and crossed (the row lock and the re-check in one step); post one ledger transaction per position;
write the history rows; store the events, published after commit. The statements are
``trading.pg``'s: on PostgreSQL a fixed number whatever the batch size, on SQLite the ORM twins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import NamedTuple, cast

from django.db import transaction

from portfolio.events import portfolio_update_data
from portfolio.models import Balance, LedgerAccount, LedgerReason, SpotHolding
from portfolio.positions import EMPTY
from portfolio.services import Posting, ledger_post_many_ids, system_account_get
from realtime.publish import RawJSON, raw_json, user_events_emit_many
from trading.events import position_liquidated_json
from trading.margin import LiquidationPlan, plan_liquidation
from trading.pg import BatchStatements, batch_statements
from trading.position_totals import position_totals
from trading.services.position_book import liquidation_legs, liquidation_memo

logger = logging.getLogger("trading.liquidation")

Event = tuple[int, str, RawJSON]  # ``(user_id, type, data's JSON text)``: plain values


def liquidate_batch(
    *,
    ids: list,
    price: Decimal,
    computed_at: datetime | None,
    symbols: Sequence[str],
    sql: BatchStatements | None = None,
) -> list[str]:
    """Liquidate those of ``ids`` still open and crossed at ``price`` (and, given the tick's time
    ``computed_at``, whose liquidation price was set by then) that trade on one of the markets
    ``symbols`` (the tick's index's perps: re-checked in the transition, a tick never touches
    another market's position); the ids liquidated, as text.
    ``sql``: the statement set (default: the connection's; tests run the ORM twins on PostgreSQL
    too)."""
    sql = sql or batch_statements()
    accounts = sql.owners_get(ids=ids)
    if not accounts:
        return []
    house, insurance = system_account_get(code="house"), system_account_get(code="insurance")
    with transaction.atomic(durable=True):
        sql.owners_lock(account_ids=list(accounts))
        now = datetime.now(timezone.utc)
        crossed = sql.transition(ids=ids, price=price, now=now, before=computed_at, symbols=list(symbols))
        if not crossed:
            return []
        plans = [
            plan_liquidation(side=p.side, entry=p.entry_price, qty=p.qty, margin=p.margin, price=price) for p in crossed
        ]
        txn_ids = ledger_post_many_ids(
            postings=(  # a generator: each posting is built, read once and let go
                Posting(
                    reason=LedgerReason.LIQUIDATION,
                    legs=liquidation_legs(account=accounts[p.account_id], house=house, insurance=insurance, plan=plan),
                    reference_type="position",
                    reference_id=str(p.id),
                    memo=liquidation_memo(
                        side=p.side, qty=p.qty, symbol=p.symbol, price=price, liq=p.liquidation_price
                    ),
                    shard_key=p.user_id,
                )
                for p, plan in zip(crossed, plans, strict=True)
            )
        )
        sql.history_insert(
            rows=[
                (p.id, p.qty, plan.margin, -plan.margin, plan.insurance, p.liquidation_price, txn_id)
                for p, plan, txn_id in zip(crossed, plans, txn_ids, strict=True)
            ],
            price=price,
            computed_at=computed_at,
            now=now,
        )
        _announce(sql, crossed=crossed, plans=plans, accounts=accounts, price=price, computed_at=computed_at)
    return [str(p.id) for p in crossed]


def _announce(
    sql: BatchStatements,
    *,
    crossed: list,
    plans: list[LiquidationPlan],
    accounts: dict[int, LedgerAccount],
    price: Decimal,
    computed_at: datetime | None,
) -> None:
    """``position_liquidated`` per position and one ``portfolio_update`` per account, stored with
    the users' next seqs in the batch's transaction and published after commit."""
    events: list[Event] = [
        (
            p.user_id,
            "position_liquidated",
            position_liquidated_json(
                position=p, price=price, pnl=plan.pnl, insurance=plan.insurance, computed_at=computed_at
            ),
        )
        for p, plan in zip(crossed, plans, strict=True)
    ]
    touched = {p.account_id: accounts[p.account_id] for p in crossed}
    events += portfolio_updates(sql, accounts=touched)
    user_events_emit_many(events)


class _BalanceRow(NamedTuple):
    """What ``portfolio_update_data`` reads of a ``Balance``."""

    account_id: int
    asset: str
    total: Decimal
    locked: Decimal

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


class _HoldingRow(NamedTuple):
    """What ``portfolio_update_data`` reads of a ``SpotHolding``."""

    account_id: int
    asset: str
    qty: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal


def portfolio_updates(sql: BatchStatements, *, accounts: dict[int, LedgerAccount]) -> list[Event]:
    """One ``portfolio_update`` per account touched, from three reads for the whole batch. The
    rows stay tuples of plain values (grouped per account as tuples too, not lists) until their
    account's payload is built, and the payload is encoded at once: nothing per account for the
    cyclic garbage collector to carry."""
    ids = list(accounts)
    balance_rows, holding_rows = sql.books_get(account_ids=ids)
    balances: dict[int, tuple] = {}
    for row in balance_rows:
        balances[row[0]] = (*balances.get(row[0], ()), row)
    holdings: dict[int, tuple] = {}
    for row in holding_rows:
        holdings[row[0]] = (*holdings.get(row[0], ()), row)
    totals = position_totals(account_ids=ids, prices={})  # margin and count only: no valuation here

    def data(account_id: int, account: LedgerAccount) -> RawJSON:
        return raw_json(
            portfolio_update_data(  # the rows stand in for the models: the attributes it reads
                account,
                balances=cast("list[Balance]", [_BalanceRow._make(row) for row in balances.get(account_id, ())]),
                holdings=cast("list[SpotHolding]", [_HoldingRow._make(row) for row in holdings.get(account_id, ())]),
                positions=totals.get(account_id, EMPTY),
            )
        )

    return [
        (account.user_id, "portfolio_update", data(account_id, account))
        for account_id, account in accounts.items()
        if account.user_id
    ]
