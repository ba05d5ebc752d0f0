"""Set-based statements on the spot books (``SpotHolding``) for a batch of fills: lock the books
of ``(account, asset)`` keys in id order (creating the missing ones), then write their new
figures in one statement. PostgreSQL's (one json parameter per set, ``core.pgrows``) and their
ORM twins for SQLite side by side; ``trading.trigger_pg`` puts them in its statement sets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Q

from core.pgrows import json_param, rows_sql
from portfolio.models import SpotHolding

# ``(id, qty, cost_basis, realized_pnl, fees_paid, volume, trade_count)`` by ``(account_id, asset)``
HoldingRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, int]
_BOOK = "h.id, h.account_id, h.asset, h.qty, h.cost_basis, h.realized_pnl, h.fees_paid, h.volume, h.trade_count"
_KEYS = rows_sql("k", account_id="bigint", asset="text")


def _holdings_lock_pg(*, keys: list[tuple[int, str]], now: datetime) -> dict[tuple[int, str], HoldingRow]:
    """One ``SELECT ... FOR UPDATE`` in id order (two more, once, for books that do not exist yet:
    an insert of the empty ones and their lock)."""
    table = SpotHolding._meta.db_table
    select = (
        f"SELECT {_BOOK} FROM {table} h JOIN {_KEYS} ON h.account_id = k.account_id AND h.asset = k.asset "
        "ORDER BY h.id FOR UPDATE OF h"
    )
    with connection.cursor() as cursor:
        cursor.execute(select, [json_param(keys)])
        found = {(a, asset): (i, *book) for i, a, asset, *book in cursor.fetchall()}
        missing = [key for key in keys if key not in found]
        if missing:
            cursor.execute(
                f"INSERT INTO {table} (account_id, asset, qty, cost_basis, realized_pnl, fees_paid, volume, "
                f"trade_count, updated_at) SELECT k.account_id, k.asset, 0, 0, 0, 0, 0, 0, %s FROM {_KEYS} "
                "ON CONFLICT (account_id, asset) DO NOTHING",
                [now, json_param(missing)],
            )
            cursor.execute(select, [json_param(missing)])
            found.update(((a, asset), (i, *book)) for i, a, asset, *book in cursor.fetchall())
    return found


def _holdings_lock_orm(*, keys: list[tuple[int, str]], now: datetime) -> dict[tuple[int, str], HoldingRow]:
    def fetch(wanted: list[tuple[int, str]]) -> dict[tuple[int, str], HoldingRow]:
        condition = Q()
        for account_id, asset in wanted:
            condition |= Q(account_id=account_id, asset=asset)
        rows = SpotHolding.objects.select_for_update(of=("self",)).filter(condition).order_by("pk")
        fields = ("id", "qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count")
        return {(h.account_id, h.asset): tuple(getattr(h, f) for f in fields) for h in rows}

    found = fetch(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        SpotHolding.objects.bulk_create(
            [SpotHolding(account_id=a, asset=asset, updated_at=now) for a, asset in missing], ignore_conflicts=True
        )
        found.update(fetch(missing))
    return found


_BOOKS = rows_sql(
    "u", id="bigint", qty="numeric", cost_basis="numeric", realized_pnl="numeric", fees_paid="numeric",
    volume="numeric", trade_count="int",
)  # fmt: skip


def _holdings_save_pg(*, rows: list[HoldingRow], now: datetime) -> None:
    """One ``UPDATE ... FROM`` the new figures of the locked books."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SpotHolding._meta.db_table} h SET qty = u.qty, cost_basis = u.cost_basis, "
            "realized_pnl = u.realized_pnl, fees_paid = u.fees_paid, volume = u.volume, trade_count = u.trade_count, "
            f"updated_at = %s FROM {_BOOKS} WHERE h.id = u.id",
            [now, json_param(rows)],
        )


def _holdings_save_orm(*, rows: list[HoldingRow], now: datetime) -> None:
    SpotHolding.objects.bulk_update(
        [
            SpotHolding(id=i, qty=qty, cost_basis=cost, realized_pnl=pnl, fees_paid=fees, volume=volume,
                        trade_count=count, updated_at=now)
            for i, qty, cost, pnl, fees, volume, count in rows
        ],
        ["qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count", "updated_at"],
    )  # fmt: skip


HOLDINGS_PG = (_holdings_lock_pg, _holdings_save_pg)
HOLDINGS_ORM = (_holdings_lock_orm, _holdings_save_orm)
