"""One liquidation batch as one durable transaction (see ``trading.services.liquidation``).

``_liquidate_batch_sql`` (PostgreSQL) runs a fixed number of statements whatever the batch
size; ``_liquidate_batch_portable`` takes the same steps through the ORM (SQLite, embedded
mode). Both lock the owners' USD balance rows first, then the positions, re-check each is
still open and crossed, post through the ledger service and announce after commit.
"""

from __future__ import annotations

import logging
from collections import defaultdict, namedtuple
from datetime import datetime, timezone
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F

from core.pgarray import num_array
from portfolio.events import portfolio_update_data
from portfolio.models import Asset, Balance, LedgerAccount, LedgerReason, SpotHolding
from portfolio.positions import EMPTY, position_totals_get
from portfolio.services import Posting, balance_lock, ledger_post_many, ledger_post_many_ids, system_account_get
from realtime.publish import user_events_emit_many
from trading.events import position_liquidated_json
from trading.margin import is_crossed, plan_liquidation
from trading.models import (
    POSITION_TRANSITIONS,
    Position,
    PositionEvent,
    PositionEventKind,
    PositionSide,
    PositionStatus,
)
from trading.services.position_book import liquidation_legs, liquidation_memo, position_transition

logger = logging.getLogger("trading.liquidation")


_LIQUIDATABLE = [status for status, targets in POSITION_TRANSITIONS.items() if PositionStatus.LIQUIDATED in targets]


# A position as the transition ``UPDATE`` returns it: the attributes ``position_data`` reads.
# ``id`` comes back as text (it is only ever used as text: references, payloads, arrays);
# ``closed_at`` is the batch's ``now``, set by the statement, so it is not read back.
_RETURNED = (
    "id::text user_id account_id client_order_id symbol side status qty margin leverage entry_price "
    "liquidation_price realized_pnl fees_paid exit_price opened_at"
).split()
_Liquidated = namedtuple("_Liquidated", [name.split("::")[0] for name in _RETURNED] + ["closed_at"])


def _liquidate_batch_sql(*, ids: list, price: Decimal, computed_at: datetime | None, touched: set[int]) -> list[str]:
    accounts = _owners_get(ids=ids)
    if not accounts:
        return []
    house, insurance = system_account_get(code="house"), system_account_get(code="insurance")
    with transaction.atomic(durable=True):
        _owners_lock(account_ids=list(accounts))
        now = datetime.now(timezone.utc)
        crossed = _transition_crossed(ids=ids, price=price, now=now, before=computed_at)
        if not crossed:
            return []
        plans = [
            plan_liquidation(side=p.side, entry=p.entry_price, qty=p.qty, margin=p.margin, price=price) for p in crossed
        ]
        txn_ids = ledger_post_many_ids(
            postings=[
                _posting(p, plan, account=accounts[p.account_id], house=house, insurance=insurance, price=price)
                for p, plan in zip(crossed, plans, strict=True)
            ]
        )
        _history_insert(crossed=crossed, plans=plans, txn_ids=txn_ids, price=price, computed_at=computed_at, now=now)
        _announce(crossed=crossed, plans=plans, accounts=accounts, price=price, computed_at=computed_at)
    touched.update(p.account_id for p in crossed)  # committed
    return [p.id for p in crossed]


def _posting(p, plan, *, account: LedgerAccount, house: LedgerAccount, insurance: LedgerAccount, price: Decimal):
    return Posting(
        reason=LedgerReason.LIQUIDATION,
        legs=liquidation_legs(account=account, house=house, insurance=insurance, plan=plan),
        reference_type="position",
        reference_id=str(p.id),
        memo=liquidation_memo(side=p.side, qty=p.qty, price=price, liq=p.liquidation_price),
        shard_key=p.user_id,
    )


def _owners_get(*, ids: list) -> dict[int, LedgerAccount]:
    """The ledger accounts owning the still-open positions among ``ids`` (read before any lock;
    ``created_at`` left deferred).

    ``id IN (SELECT unnest(...))``, not ``id = ANY(...)``: with ``ANY`` of a thousand ids the
    planner expects scattered pages and scans the whole positions table (~20 ms a batch); as a
    join it probes the primary key once per id (~3 ms)."""
    names = ["id", "kind", "code", "user_id", "epoch"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(names)} FROM {LedgerAccount._meta.db_table} WHERE id IN (SELECT account_id "
            f"FROM {Position._meta.db_table} WHERE id IN (SELECT unnest(%s::uuid[])) AND status = ANY(%s))",
            [num_array(ids), _LIQUIDATABLE],
        )
        accounts = [LedgerAccount.from_db(connection.alias, names, row) for row in cursor.fetchall()]
    return {account.pk: account for account in accounts}


def _owners_lock(*, account_ids: list[int]) -> None:
    """Lock the owners' USD balance rows first (the global lock order: balances, then positions),
    in id order, in one statement; nothing is read back (the ledger locks and reads them again)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id FROM {Balance._meta.db_table} b WHERE b.account_id = ANY(%s::bigint[]) "
            "AND b.asset = %s AND b.shard = 0 ORDER BY b.id FOR UPDATE",
            [num_array(account_ids), Asset.USD],
        )


def _transition_crossed(*, ids: list, price: Decimal, now: datetime, before: datetime | None) -> list[_Liquidated]:
    """``open -> liquidated`` for those of ``ids`` still open and crossed at ``price`` (and, given
    the tick's time ``before``, whose liquidation price was set by then), in ONE statement: it
    takes each row lock and, under READ COMMITTED, re-evaluates the condition on the latest row
    version, so a close or an increase that committed first makes the row drop out."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Position._meta.db_table} SET status = %s, closed_at = %s, updated_at = %s, exit_price = %s, "
            "realized_pnl = realized_pnl - margin "
            "WHERE id = ANY(%s::uuid[]) AND status = ANY(%s) "
            "AND ((side = %s AND liquidation_price >= %s) OR (side = %s AND liquidation_price <= %s)) "
            "AND (%s::timestamptz IS NULL OR updated_at <= %s::timestamptz) "
            f"RETURNING {', '.join(_RETURNED)}",
            [
                PositionStatus.LIQUIDATED,
                now,
                now,
                price,
                num_array(ids),
                _LIQUIDATABLE,
                PositionSide.LONG,
                price,
                PositionSide.SHORT,
                price,
                before,
                before,
            ],
        )
        # The canonical text of a UUID (fixed width, lowercase hex) sorts as its number does.
        return sorted((_Liquidated(*row, now) for row in cursor.fetchall()), key=lambda p: p.id)


def _history_insert(*, crossed, plans, txn_ids: list[int], price: Decimal, computed_at, now: datetime) -> None:
    """One ``PositionEvent`` (kind ``liquidation``) per position: one ``INSERT ... SELECT FROM unnest``."""
    columns: list[list] = [[], [], [], [], [], [], []]
    for p, plan, txn_id in zip(crossed, plans, txn_ids, strict=True):
        for column, value in zip(
            columns, (p.id, p.qty, plan.margin, -plan.margin, plan.insurance, p.liquidation_price, txn_id), strict=True
        ):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PositionEvent._meta.db_table} (position_id, kind, qty, price, index_price, margin, fee, "
            "realized_pnl, insurance, liquidation_price, price_computed_at, ledger_txn_id, created_at) "
            "SELECT e.position_id, %s, e.qty, %s, %s, e.margin, 0, e.realized_pnl, e.insurance, e.liquidation_price, "
            "%s, e.ledger_txn_id, %s FROM unnest(%s::uuid[], %s::numeric[], %s::numeric[], %s::numeric[], "
            "%s::numeric[], %s::numeric[], %s::bigint[]) "
            "AS e(position_id, qty, margin, realized_pnl, insurance, liquidation_price, ledger_txn_id)",
            [PositionEventKind.LIQUIDATION, price, price, computed_at, now, *map(num_array, columns)],
        )


def _liquidate_batch_portable(
    *, ids: list, price: Decimal, computed_at: datetime | None, touched: set[int]
) -> list[str]:
    """The same steps through the ORM, for SQLite (embedded mode)."""
    account_ids = set(Position.objects.filter(pk__in=ids, status=PositionStatus.OPEN).values_list("account", flat=True))
    if not account_ids:
        return []
    accounts = {a.pk: a for a in LedgerAccount.objects.filter(pk__in=account_ids)}
    house, insurance = system_account_get(code="house"), system_account_get(code="insurance")
    with transaction.atomic(durable=True):
        balance_lock(keys=[(account, Asset.USD, 0) for account in accounts.values()])
        locked = Position.objects.select_for_update(of=("self",)).filter(pk__in=ids, status=PositionStatus.OPEN)
        if computed_at is not None:
            locked = locked.filter(updated_at__lte=computed_at)
        crossed = [p for p in locked.order_by("pk") if is_crossed(p.side, p.liquidation_price, price)]
        if not crossed:
            return []
        plans = [
            plan_liquidation(side=p.side, entry=p.entry_price, qty=p.qty, margin=p.margin, price=price) for p in crossed
        ]
        postings = [
            _posting(p, plan, account=accounts[p.account_id], house=house, insurance=insurance, price=price)
            for p, plan in zip(crossed, plans, strict=True)
        ]
        txns = ledger_post_many(postings=postings)
        now = datetime.now(timezone.utc)
        for position in crossed:
            position_transition(position, PositionStatus.LIQUIDATED)
            position.closed_at = position.updated_at = now
            position.exit_price = price
            position.realized_pnl -= position.margin
        Position.objects.filter(pk__in=[p.pk for p in crossed]).update(
            status=PositionStatus.LIQUIDATED,
            closed_at=now,
            updated_at=now,
            exit_price=price,
            realized_pnl=F("realized_pnl") - F("margin"),
        )
        PositionEvent.objects.bulk_create(
            [
                PositionEvent(
                    position=p,
                    kind=PositionEventKind.LIQUIDATION,
                    qty=p.qty,
                    price=price,
                    index_price=price,
                    margin=plan.margin,
                    realized_pnl=-plan.margin,
                    insurance=plan.insurance,
                    liquidation_price=p.liquidation_price,
                    price_computed_at=computed_at,
                    ledger_txn=txn,
                    created_at=now,
                )
                for p, plan, txn in zip(crossed, plans, txns, strict=True)
            ]
        )
        _announce(crossed=crossed, plans=plans, accounts=accounts, price=price, computed_at=computed_at)
    touched.update(p.account_id for p in crossed)  # committed
    return [str(p.id) for p in crossed]


def _announce(*, crossed: list, plans: list, accounts: dict[int, LedgerAccount], price: Decimal, computed_at) -> None:
    """``position_liquidated`` per position and one ``portfolio_update`` per account, stored with
    the users' next seqs in the batch's transaction and published after commit."""
    events = [
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
    events += _portfolio_updates(accounts=touched)
    user_events_emit_many(events)


class _BalanceRow(namedtuple("_BalanceRow", "account_id asset total locked")):
    """What ``portfolio_update_data`` reads of a balance row."""

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


_HoldingRow = namedtuple("_HoldingRow", "account_id qty cost_basis realized_pnl fees_paid")


def _portfolio_updates(*, accounts: dict[int, LedgerAccount]) -> list[tuple[int, str, dict]]:
    """One ``portfolio_update`` per account touched, from three reads for the whole batch."""
    ids = list(accounts)
    if connection.vendor == "postgresql":  # plain rows: no model instances, no 1,000-parameter IN list
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_BalanceRow._fields)} FROM {Balance._meta.db_table} WHERE account_id = ANY(%s)",
                [ids],
            )
            rows = [_BalanceRow(*row) for row in cursor.fetchall()]
            cursor.execute(
                f"SELECT {', '.join(_HoldingRow._fields)} FROM {SpotHolding._meta.db_table} WHERE account_id = ANY(%s)",
                [ids],
            )
            holding_rows = [_HoldingRow(*row) for row in cursor.fetchall()]
    else:
        rows = list(Balance.objects.filter(account_id__in=ids))
        holding_rows = list(SpotHolding.objects.filter(account_id__in=ids))
    balances: dict[int, list] = defaultdict(list)
    for row in rows:
        balances[row.account_id].append(row)
    holdings = {h.account_id: h for h in holding_rows}
    totals = position_totals_get(account_ids=ids, price=None)
    return [
        (
            account.user_id,
            "portfolio_update",
            portfolio_update_data(
                account,
                balances=balances[account_id],
                holding=holdings.get(account_id),
                positions=totals.get(account_id, EMPTY),
            ),
        )
        for account_id, account in accounts.items()
        if account.user_id
    ]
