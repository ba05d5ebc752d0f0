"""The funding settlement's statements (``trading.services.funding`` is the algorithm).

Each step is written twice, side by side: for PostgreSQL, one statement whatever the number of
positions (every open position of the market in one set), and its twin for SQLite (embedded mode)
through the ORM and the ledger's own posting service. ``funding_statements()`` picks the set for
the connection's database; both take and answer the same things, so the algorithm is written
once. Values only ever travel as parameters.

The amounts (``trading.funding_maths`` states the same rules in Python, the ORM twin uses it):
``due = floor(sign x qty x mark x rate, 1e-6)`` with ``sign`` -1 for a long (+1 for a short):
what the trader pays rounds up and what they receive rounds down (the ledger's rule). The margin
takes ``amount = max(due, -(margin - 1e-6))``: a position always keeps some margin (``CHECK
margin > 0``); what it could not pay (``due - amount``) insurance pays the house, so the house
always gets or pays ``-due``. Ledger legs (USD): the trader's ``locked`` bucket ``amount``, house
``-due``, insurance ``due - amount``; zero legs left out, they sum to zero by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum

from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerReason, LedgerTransaction
from portfolio.services import system_account_get
from trading.funding_maths import MARGIN_FLOOR, Settle, Settled
from trading.funding_orm import settle_orm
from trading.models import FundingPayment, FundingRun, Position, PositionSide, PositionStatus

_P, _B, _R, _F = (
    Position._meta.db_table,
    Balance._meta.db_table,
    FundingRun._meta.db_table,
    FundingPayment._meta.db_table,
)
_T, _E, _A = LedgerTransaction._meta.db_table, LedgerEntry._meta.db_table, LedgerAccount._meta.db_table


# --- claim the run (the unique (symbol, funding_time) row) -----------------------------------


def run_claim(*, symbol: str, funding_time: datetime, values: dict) -> int | None:
    """Insert the run, or nothing if one exists; the new run's id, else ``None``. PostgreSQL:
    ``INSERT ... ON CONFLICT DO NOTHING``: a second transaction inserting the same key waits for
    the first to end, then inserts nothing (it committed) or takes over (it rolled back). SQLite
    (one writer at a time): the ORM's insert in a savepoint, the unique constraint refusing it."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return FundingRun.objects.create(symbol=symbol, funding_time=funding_time, **values).pk
        except IntegrityError:
            return None
    columns = ["symbol", "funding_time", *values]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_R} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
            "ON CONFLICT (symbol, funding_time) DO NOTHING RETURNING id",
            [symbol, funding_time, *values.values()],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def system_rows_ensure() -> tuple[int, int]:
    """The ``house`` and ``insurance`` accounts' ids, every USD shard row of theirs present
    (inserted if missing, before any lock: the settlement's statement only updates them)."""
    house, insurance = system_account_get(code="house"), system_account_get(code="insurance")
    shards = range(max(1, settings.LEDGER_SYSTEM_SHARDS))
    Balance.objects.bulk_create(
        [Balance(account=a, asset=Asset.USD, shard=n, allow_negative=True) for a in (house, insurance) for n in shards],
        ignore_conflicts=True,
    )
    return house.pk, insurance.pk


# --- lock the owners' USD balance rows (the global lock order: balances, then positions) ----


def _owners_lock_pg(*, symbol: str, funding_time: datetime) -> int:
    """ONE statement: the USD rows of the owners of the market's open positions (opened by the
    funding time), in id order; only a count comes back."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH l AS (SELECT b.id FROM {_B} b WHERE b.account_id IN (SELECT p.account_id FROM {_P} p "
            "WHERE p.symbol = %s AND p.status = %s AND p.opened_at <= %s) AND b.asset = %s AND b.shard = 0 "
            "ORDER BY b.id FOR UPDATE) SELECT count(*) FROM l",
            [symbol, PositionStatus.OPEN, funding_time, Asset.USD],
        )
        return int(cursor.fetchone()[0])


def _owners_lock_orm(*, symbol: str, funding_time: datetime) -> int:
    owners = Position.objects.filter(symbol=symbol, status=PositionStatus.OPEN, opened_at__lte=funding_time)
    rows = Balance.objects.select_for_update(of=("self",)).filter(
        account_id__in=owners.values("account_id"), asset=Asset.USD, shard=0
    )
    return len(rows.order_by("pk").values_list("pk", flat=True))


# --- the payments: positions, ledger, balances, payment rows in one statement ----------------

# The position's amounts, then its new margin and liquidation price (``trading.margin``'s formula
# on the market's tick: long up, short down, a long's never below 0).
_DUE = (
    "SELECT p.id, p.user_id, p.account_id, p.side, p.qty, p.margin, "
    "round(floor(CASE WHEN p.side = %(long)s THEN -1 ELSE 1 END * p.qty * (%(mark)s) * (%(rate)s) * 1000000) "
    "/ 1000000, 6) AS due "
    f"FROM {_P} p WHERE p.symbol = %(symbol)s AND p.status = %(open)s AND p.opened_at <= %(time)s"
)
_LIQ = (
    "CASE WHEN p.side = %(long)s "
    "THEN GREATEST(0, ceil((p.entry_price - (p.margin + c.amount) / p.qty) / (1 - p.mmr) / %(tick)s) * %(tick)s) "
    "ELSE floor((p.entry_price + (p.margin + c.amount) / p.qty) / (1 + p.mmr) / %(tick)s) * %(tick)s END"
)
# The events' data as JSON text (``trading.funding_payloads`` builds the same in Python): NUMERIC(38,
# 9) columns print 9 places as ``dec9`` does; the amounts are cast to it.
_PAYMENT_TEXT = (
    '\'{"position_id":"\' || x.id::text || \'",\' || %(head)s || \',"side":"\' || x.side || \'","qty":"\' '
    '|| x.qty::text || \'","amount":"\' || x.amount::numeric(38, 9)::text || \'","insurance":"\' '
    '|| (x.due - x.amount)::numeric(38, 9)::text || \'","margin":"\' || x.margin::text '
    '|| \'","liquidation_price":"\' || x.liquidation_price::text || \'","funding_accrued":"\' '
    "|| x.funding_accrued::text || '\"}'"
)
_PORTFOLIO_TEXT = (
    '\'{"epoch":\' || a.epoch::text || \',"balances":{"USD":{"free":"\' || (x.total - x.locked)::text '
    '|| \'","locked":"\' || x.locked::text || \'","total":"\' || x.total::text '
    '|| \'"}},"holdings":{},"positions":{"open_count":\' || t.n::text || \',"margin_used":"\' '
    "|| (t.m + x.amount)::numeric(38, 9)::text || '\"}}'"
)
# The owner's open positions before the payments (the statement's snapshot): count and margin, one
# probe of the partial index on open positions' account per payment (a LATERAL: a join of the
# statement's row sets, whose sizes the planner cannot know, made it loop over both: 4 s at 10,000).
_TOTALS = (
    f"CROSS JOIN LATERAL (SELECT count(*) AS n, sum(o.margin) AS m FROM {_P} o "
    "WHERE o.account_id = x.account_id AND o.status = %(open)s) t "
    f"CROSS JOIN LATERAL (SELECT la.epoch FROM {_A} la WHERE la.id = x.account_id) a"
)
_CROSSED = (
    "x.amount < 0 AND CASE WHEN x.side = %(long)s THEN x.liquidation_price >= %(mark)s "
    "ELSE x.liquidation_price <= %(mark)s END"
)
_LEGS = (
    "(VALUES (1, x.account_id, %(locked)s, x.amount), (2, %(house)s::bigint, %(free)s, -x.due), "
    "(3, %(insurance)s::bigint, %(free)s, x.due - x.amount)) AS l(k, account_id, bucket, amount)"
)


def _settle_pg(s: Settle) -> list[Settled]:
    """ONE statement: each open position of the market opened by the funding time (and with a
    non-zero due) has its margin, accrued funding and liquidation price updated, one ``funding``
    ledger transaction (reference ``position/<id>``) with its entries, its ``FundingPayment`` row,
    and its owner's USD row the amount; the house and insurance shard rows get their sums (locked
    last: the aggregate needs every position's row first). The payments (in no particular order:
    a user has one per market, and sorting 100,000 rows of text spilled to disk), each with its
    events' data as JSON text."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH a AS MATERIALIZED ({_DUE}), "
            "c AS MATERIALIZED (SELECT a.*, GREATEST(a.due, %(floor)s - a.margin) AS amount FROM a WHERE a.due <> 0), "
            f"pos AS (UPDATE {_P} p SET margin = p.margin + c.amount, funding_accrued = p.funding_accrued + c.amount, "
            f"liquidation_price = {_LIQ}, updated_at = %(now)s FROM c WHERE p.id = c.id AND p.status = %(open)s "
            "RETURNING p.id, p.user_id, p.account_id, p.side, p.qty, p.margin, p.liquidation_price, "
            "p.funding_accrued, c.amount, c.due), "
            f"x AS MATERIALIZED (SELECT nextval((SELECT pg_get_serial_sequence('{_T}', 'id'))::regclass) AS txn_id, "
            "pos.* FROM pos), "
            f"txn AS (INSERT INTO {_T} (id, reason, reference_type, reference_id, memo, created_by_id, created_at) "
            "SELECT x.txn_id, %(reason)s, 'position', x.id::text, 'funding ' || x.side || ' ' || x.qty::text || ' ' "
            "|| %(symbol)s || ' @ ' || (%(mark)s)::text || ' rate ' || (%(rate)s)::text, NULL, %(now)s FROM x), "
            f"ent AS (INSERT INTO {_E} (txn_id, account_id, asset, bucket, amount, created_at) "
            f"SELECT x.txn_id, l.account_id, %(usd)s, l.bucket, l.amount, %(now)s FROM x CROSS JOIN LATERAL {_LEGS} "
            "WHERE l.amount <> 0), "
            f"pay AS (INSERT INTO {_F} (run_id, position_id, user_id, symbol, funding_time, side, qty, mark, rate, "
            "amount, insurance, margin_after, ledger_txn_id, created_at) SELECT %(run)s, x.id, x.user_id, %(symbol)s, "
            "%(time)s, x.side, x.qty, %(mark)s, %(rate)s, x.amount, x.due - x.amount, x.margin, x.txn_id, %(now)s "
            "FROM x), "
            f"u AS (UPDATE {_B} b SET total = b.total + x.amount, locked = b.locked + x.amount, updated_at = %(now)s "
            "FROM x WHERE b.account_id = x.account_id AND b.asset = %(usd)s AND b.shard = 0 "
            "RETURNING x.*, b.total, b.locked), "
            f"sb AS (UPDATE {_B} b SET total = b.total + s.d, updated_at = %(now)s FROM ("
            "SELECT %(house)s::bigint AS account_id, x.user_id %% %(shards)s AS shard, sum(-x.due) AS d "
            "FROM x GROUP BY 2 "
            "UNION ALL SELECT %(insurance)s::bigint, x.user_id %% %(shards)s, sum(x.due - x.amount) FROM x GROUP BY 2"
            ") s WHERE b.account_id = s.account_id AND b.asset = %(usd)s AND b.shard = s.shard AND s.d <> 0) "
            f"SELECT x.user_id, x.id::text, {_CROSSED}, {_PAYMENT_TEXT}, {_PORTFOLIO_TEXT} "
            f"FROM u AS x {_TOTALS}",
            {
                "symbol": s.symbol, "time": s.funding_time, "mark": s.mark, "rate": s.rate, "tick": s.tick,
                "now": s.now, "run": s.run_id, "house": s.house_id, "insurance": s.insurance_id, "shards": s.shards,
                "floor": MARGIN_FLOOR, "long": PositionSide.LONG.value, "open": PositionStatus.OPEN.value,
                "reason": LedgerReason.FUNDING.value, "usd": Asset.USD.value, "locked": Bucket.LOCKED.value,
                "free": Bucket.FREE.value, "head": s.head,
            },
        )  # fmt: skip
        return [Settled._make(row) for row in cursor.fetchall()]


# --- finish the run ------------------------------------------------------------------------


def run_finish(*, run_id: int, settled_at: datetime) -> None:
    """The run's count and totals (what traders paid and received, from its payment rows) and its
    settlement time."""
    totals = FundingPayment.objects.filter(run_id=run_id).aggregate(
        n=Count("id"), paid=Sum("amount", filter=Q(amount__lt=0)), received=Sum("amount", filter=Q(amount__gt=0))
    )
    FundingRun.objects.filter(pk=run_id).update(
        positions=totals["n"], paid_total=-(totals["paid"] or Decimal(0)),
        received_total=totals["received"] or Decimal(0), settled_at=settled_at,
    )  # fmt: skip


# --- the two sets --------------------------------------------------------------------------


class FundingStatements(NamedTuple):
    owners_lock: Callable[..., int]
    settle: Callable[[Settle], list[Settled]]


POSTGRES_FUNDING = FundingStatements(_owners_lock_pg, _settle_pg)
PORTABLE_FUNDING = FundingStatements(_owners_lock_orm, settle_orm)


def funding_statements() -> FundingStatements:
    """The statements for this connection's database: PostgreSQL's, or the ORM twins (SQLite)."""
    return POSTGRES_FUNDING if connection.vendor == "postgresql" else PORTABLE_FUNDING
