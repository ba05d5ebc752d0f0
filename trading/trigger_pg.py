"""The trigger engine's batch statements (``trading.services.trigger_batch`` is the algorithm).

Each step is written twice, side by side: for PostgreSQL, one statement whatever the batch size
(a set of ids or of rows travels as one json parameter, ``core.pgrows``), and its twin for SQLite
(embedded mode) through the ORM. ``trigger_statements()`` picks the set for the connection's
database; both take and answer the same plain rows, so the algorithm is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import Q

from core.pgrows import json_param, rows_sql, values_sql
from portfolio.holdings_pg import HOLDINGS_ORM, HOLDINGS_PG, HoldingRow
from portfolio.models import LedgerAccount
from portfolio.pg import TRADES_ORM, TRADES_PG
from trading.limits import is_crossed
from trading.models import ORDER_TRANSITIONS, RESTING_LIMIT, WAITING_STOP, Fill, Order, OrderStatus, Side
from trading.services.order_states import order_transition

# The statuses the transition table lets go to ``filled`` (``new``): the WHERE is built from it.
_FILLABLE = [status for status, targets in ORDER_TRANSITIONS.items() if OrderStatus.FILLED in targets]


class Resting(NamedTuple):
    """A resting limit order as the engine reads it, its trader's ledger account (id, epoch) added.
    Plain values only (the id as text, not a ``UUID`` object): a tick's thousands of candidates,
    live through every batch, are then nothing the garbage collector tracks (``resting``)."""

    id: str
    symbol: str
    user_id: int
    client_order_id: str
    side: str
    qty: Decimal
    limit_price: Decimal
    held_asset: str
    held: Decimal
    created_at: datetime
    account_id: int
    epoch: int


# The order's own columns of a ``Resting``, in its order (the candidates' query selects them).
ORDER_FIELDS = (
    "id", "symbol", "user_id", "client_order_id", "side", "qty", "limit_price", "held_asset", "held", "created_at"
)  # fmt: skip
_ORDER_COLUMNS = ", ".join(f"o.{name}" for name in ORDER_FIELDS)
_UUIDS, _BIGINTS = values_sql("uuid"), values_sql("bigint")


# --- the candidates' trader accounts (read before any lock) ----------------------------------


def _accounts_get_pg(*, user_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{user_id: (ledger account id, epoch)}``: one statement (an account's epoch cannot change
    under an open order: a reset is refused while funds are held)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, id, epoch FROM {LedgerAccount._meta.db_table} WHERE user_id IN {_BIGINTS}",
            [json_param(user_ids)],
        )
        return {user_id: (account_id, epoch) for user_id, account_id, epoch in cursor.fetchall()}


def _accounts_get_orm(*, user_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    rows = LedgerAccount.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "id", "epoch")
    return {user_id: (account_id, epoch) for user_id, account_id, epoch in rows}


# --- the probes of the partial indexes' ends (a tick that crosses none stops there) ----------

# Each is one statement whose text never changes (the markets travel as one array parameter): no
# queryset is built and compiled per tick (that was ~2 ms of Python a quiet tick per engine). The
# WHERE is the partial index's own predicate, word for word, so the planner can use the index
# (``trading.models.RESTING_LIMIT`` / ``WAITING_STOP``; tests/trading/test_trigger_batch.py reads
# the plan).
_ORDERS = Order._meta.db_table
_RESTING = f"o.status = '{OrderStatus.NEW}' AND (o.stop_price IS NULL OR o.triggered_at IS NOT NULL)"
_WAITING = f"o.status = '{OrderStatus.NEW}' AND o.stop_price IS NOT NULL AND o.triggered_at IS NULL"


def _end_sql(column: str, predicate: str, side: str, direction: str) -> str:
    return (
        f"(SELECT o.{column} FROM {_ORDERS} o WHERE o.symbol = m.symbol AND o.side = '{side}' AND {predicate} "
        f"AND o.{column} IS NOT NULL ORDER BY o.{column} {direction} LIMIT 1)"
    )


LIMIT_ENDS_SQL = (
    f"SELECT max({_end_sql('limit_price', _RESTING, Side.BUY, 'DESC')}), "
    f"min({_end_sql('limit_price', _RESTING, Side.SELL, 'ASC')}) FROM unnest(%s::text[]) AS m(symbol)"
)
STOP_ENDS_SQL = (
    f"SELECT min({_end_sql('stop_price', _WAITING, Side.BUY, 'ASC')}), "
    f"max({_end_sql('stop_price', _WAITING, Side.SELL, 'DESC')}) FROM unnest(%s::text[]) AS m(symbol)"
)
Ends = tuple[Decimal | None, Decimal | None]


def _limit_ends_pg(*, symbols: Sequence[str]) -> Ends:
    """The highest resting buy limit and the lowest resting sell limit over ``symbols``: per
    market the last (first) entry of ``order_open_sym_side_limit`` for its side."""
    with connection.cursor() as cursor:
        cursor.execute(LIMIT_ENDS_SQL, [list(symbols)])
        top, low = cursor.fetchone()
    return top, low


def _stop_ends_pg(*, symbols: Sequence[str]) -> Ends:
    """The lowest waiting buy stop and the highest waiting sell stop over ``symbols``
    (``order_open_sym_side_stop``)."""
    with connection.cursor() as cursor:
        cursor.execute(STOP_ENDS_SQL, [list(symbols)])
        low, top = cursor.fetchone()
    return low, top


def _ends_orm(predicate: Q, *, symbols: Sequence[str], column: str, buy_first: bool) -> Ends:
    rows = Order.objects.filter(predicate, symbol__in=list(symbols), **{f"{column}__isnull": False})
    buys = rows.filter(side=Side.BUY).order_by(f"-{column}" if buy_first else column).values_list(column, flat=True)
    sells = rows.filter(side=Side.SELL).order_by(column if buy_first else f"-{column}").values_list(column, flat=True)
    return buys.first(), sells.first()


def _limit_ends_orm(*, symbols: Sequence[str]) -> Ends:
    return _ends_orm(RESTING_LIMIT, symbols=symbols, column="limit_price", buy_first=True)


def _stop_ends_orm(*, symbols: Sequence[str]) -> Ends:
    return _ends_orm(WAITING_STOP, symbols=symbols, column="stop_price", buy_first=False)


# --- the resting orders of a lane, by id (read before any lock) ------------------------------

_RESTING_SQL = (
    f"SELECT {_ORDER_COLUMNS}, a.id, a.epoch FROM {Order._meta.db_table} o "
    f"JOIN {LedgerAccount._meta.db_table} a ON a.user_id = o.user_id "
    f"WHERE o.id IN {_UUIDS} AND o.status = ANY(%s::text[]) ORDER BY o.created_at, o.id"
)


def resting(row: Sequence) -> Resting:
    """A ``Resting`` of a row read in ``ORDER_FIELDS``' order, its account's two columns after."""
    return Resting(str(row[0]), *row[1:])


def _resting_get_pg(*, ids: Sequence) -> list[Resting]:
    """Oldest first; a primary-key probe per id (one json parameter, not thousands)."""
    with connection.cursor() as cursor:
        cursor.execute(_RESTING_SQL, [json_param(ids), _FILLABLE])
        return [resting(row) for row in cursor.fetchall()]


def _resting_get_orm(*, ids: Sequence) -> list[Resting]:
    rows = Order.objects.filter(pk__in=list(ids), status__in=_FILLABLE).order_by("created_at", "id")
    fields = (*ORDER_FIELDS, "user__ledger_account__id", "user__ledger_account__epoch")
    return [resting(row) for row in rows.values_list(*fields)]


# --- new -> filled for the orders still resting and still crossed ----------------------------

# ``(n, id, side, qty, limit_price, held, fee)``: the batch's plan of each order, ``n`` its place
# (``id`` as text).
PlanRow = tuple[int, str, str, Decimal, Decimal, Decimal, Decimal]

_PLANS = rows_sql(
    "p", n="int", id="uuid", side="text", qty="numeric", limit_price="numeric", held="numeric", fee="numeric"
)


def _transition_pg(
    *, plans: list[PlanRow], buy: Decimal, sell: Decimal, index: Decimal, before: datetime, symbols: list[str],
    now: datetime,
) -> set[int]:  # fmt: skip
    """A buy meets ``buy`` (the tick's ask), a sell ``sell`` (its bid); ``index`` is stored on the
    order. ONE statement: each row lock and, under READ COMMITTED, the re-check on the latest row
    version -- still resting (``RESTING_LIMIT``'s predicate, a status the transition table lets
    fill), on one of the tick's markets, crossed, resting by ``before`` (the tick's time), and as
    planned (side, qty, limit, hold) -- so a cancel, a replace or another engine run that
    committed first makes the row drop out. Answers the places ``n`` of the orders it filled."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Order._meta.db_table} o SET status = %s, filled_at = %s, filled_qty = o.qty, "
            "filled_avg_price = o.limit_price, fee = p.fee, slippage_bps = 0, index_price = %s, held = 0 "
            f"FROM {_PLANS} WHERE o.id = p.id AND o.status = ANY(%s::text[]) "
            "AND (o.stop_price IS NULL OR o.triggered_at IS NOT NULL) AND o.symbol = ANY(%s::text[]) "
            "AND o.side = p.side AND o.qty = p.qty AND o.limit_price = p.limit_price AND o.held = p.held "
            "AND ((o.side = %s AND o.limit_price >= %s) OR (o.side = %s AND o.limit_price <= %s)) "
            "AND o.created_at <= %s AND (o.triggered_at IS NULL OR o.triggered_at <= %s) "
            "RETURNING p.n",
            [
                OrderStatus.FILLED, now, index, json_param(plans), _FILLABLE, symbols,
                Side.BUY, buy, Side.SELL, sell, before, before,
            ],
        )  # fmt: skip
        return {row[0] for row in cursor.fetchall()}


def _transition_orm(
    *, plans: list[PlanRow], buy: Decimal, sell: Decimal, index: Decimal, before: datetime, symbols: list[str],
    now: datetime,
) -> set[int]:  # fmt: skip
    """Lock, re-check in Python, take the transition through ``order_transition``, one update."""
    planned = {order_id: (n, side, qty, limit, held, fee) for n, order_id, side, qty, limit, held, fee in plans}
    rested = Q(triggered_at__isnull=True) | Q(triggered_at__lte=before)
    locked = Order.objects.select_for_update(of=("self",)).filter(
        RESTING_LIMIT, rested, pk__in=list(planned), status__in=_FILLABLE, symbol__in=symbols,
        created_at__lte=before,
    )  # fmt: skip
    filled, done = [], set()
    for order in locked.order_by("pk"):
        n, side, qty, limit, held, fee = planned[str(order.pk)]
        touch = buy if order.side == Side.BUY else sell
        if (order.side, order.qty, order.limit_price, order.held) != (side, qty, limit, held):
            continue
        if not is_crossed(order.side, limit_price=limit, touch=touch):
            continue
        order_transition(order, OrderStatus.FILLED, now=now)
        order.filled_qty, order.filled_avg_price, order.fee = qty, limit, fee
        order.slippage_bps, order.index_price, order.held = Decimal(0), index, Decimal(0)
        filled.append(order)
        done.add(n)
    fields = ["status", "filled_at", "filled_qty", "filled_avg_price", "fee", "slippage_bps", "index_price", "held"]
    Order.objects.bulk_update(filled, fields)
    return done


# --- the fills -----------------------------------------------------------------------------

# ``(id, order_id, user_id, symbol, side, qty, price, notional, fee, ledger_txn_id)``, the ids as text
FillRow = tuple[str, str, int, str, str, Decimal, Decimal, Decimal, Decimal, int]

_FILLS = rows_sql(
    "f", id="uuid", order_id="uuid", user_id="bigint", symbol="text", side="text", qty="numeric", price="numeric",
    notional="numeric", fee="numeric", ledger_txn_id="bigint",
)  # fmt: skip


def _fills_insert_pg(*, rows: list[FillRow], now: datetime) -> None:
    """One ``INSERT ... SELECT``; every fill of the engine is the maker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Fill._meta.db_table} (id, order_id, user_id, symbol, side, qty, price, notional, fee, "
            "liquidity, ledger_txn_id, created_at) SELECT f.id, f.order_id, f.user_id, f.symbol, f.side, f.qty, "
            f"f.price, f.notional, f.fee, 'maker', f.ledger_txn_id, %s FROM {_FILLS}",
            [now, json_param(rows)],
        )


def _fills_insert_orm(*, rows: list[FillRow], now: datetime) -> None:
    Fill.objects.bulk_create(
        [
            Fill(id=fill_id, order_id=order_id, user_id=user_id, symbol=symbol, side=side, qty=qty, price=price,
                 notional=notional, fee=fee, liquidity="maker", ledger_txn_id=txn_id, created_at=now)
            for fill_id, order_id, user_id, symbol, side, qty, price, notional, fee, txn_id in rows
        ]
    )  # fmt: skip


# --- the two sets --------------------------------------------------------------------------


class TriggerStatements(NamedTuple):
    limit_ends: Callable[..., Ends]
    stop_ends: Callable[..., Ends]
    accounts_get: Callable[..., dict[int, tuple[int, int]]]
    resting_get: Callable[..., list[Resting]]
    transition: Callable[..., set[int]]
    fills_insert: Callable[..., None]
    holdings_lock: Callable[..., dict[tuple[int, str], HoldingRow]]
    holdings_save: Callable[..., None]
    trades_post: Callable[..., list[int]]  # the ledger's postings of the fills (``portfolio.pg``)


POSTGRES = TriggerStatements(
    _limit_ends_pg, _stop_ends_pg, _accounts_get_pg, _resting_get_pg, _transition_pg, _fills_insert_pg,
    *HOLDINGS_PG, TRADES_PG,
)  # fmt: skip
PORTABLE = TriggerStatements(
    _limit_ends_orm, _stop_ends_orm, _accounts_get_orm, _resting_get_orm, _transition_orm, _fills_insert_orm,
    *HOLDINGS_ORM, TRADES_ORM,
)  # fmt: skip


def trigger_statements() -> TriggerStatements:
    """The statements for this connection's database: PostgreSQL's, or the ORM twins (SQLite)."""
    return POSTGRES if connection.vendor == "postgresql" else PORTABLE
