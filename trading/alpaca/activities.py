"""Alpaca's account activities from our books: each fill is a ``FILL`` trade activity; each
cash movement of the ledger that is not a trade or a hold (the starting grant, an ops
adjustment, a reset, funding, a position's realized PnL or liquidation) a non-trade activity.
Ids are ``<time>::<uuid or txn>`` as Alpaca's, newest first unless ``direction=asc``."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.timefmt import iso_utc
from portfolio.models import LedgerReason
from portfolio.selectors import ledger_entry_list
from trading.alpaca.assets import market_of_symbol, order_symbol
from trading.alpaca.objects import account_id_of, num
from trading.selectors import fill_list

NON_TRADE_TYPES = {
    LedgerReason.GRANT: "CSD",
    LedgerReason.ADJUSTMENT: "JNLC",
    LedgerReason.RESET: "JNLC",
    LedgerReason.FUNDING: "FEE",
    LedgerReason.REALIZED_PNL: "JNLC",
    LedgerReason.LIQUIDATION: "JNLC",
}
TRADE_TYPES = ("FILL",)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S%f")[:17]


def _fills(user, after, until, limit: int, newest_first: bool) -> list[tuple[datetime, dict[str, Any]]]:
    fills = fill_list(user=user, after=after, until=until).select_related("order")
    fills = fills.order_by("-created_at" if newest_first else "created_at")[:limit]
    out = []
    for fill in fills:
        market = market_of_symbol(fill.symbol)
        out.append((fill.created_at, {
            "id": f"{_stamp(fill.created_at)}::{fill.pk}",
            "account_id": str(account_id_of(user.pk)),
            "activity_type": "FILL",
            "transaction_time": iso_utc(fill.created_at),
            "type": "fill",
            "price": num(fill.price),
            "qty": num(fill.qty),
            "side": fill.side,
            "symbol": order_symbol(market) if market else fill.symbol,
            "leaves_qty": "0",
            "order_id": str(fill.order_id),
            "cum_qty": num(fill.order.filled_qty),
            "order_status": fill.order.status,
        }))  # fmt: skip
    return out


def _cash(user, after, until, limit: int, newest_first: bool, types: set[str]) -> list[tuple[datetime, dict]]:
    reasons = [reason for reason, kind in NON_TRADE_TYPES.items() if kind in types]
    entries = ledger_entry_list(user=user, after=after, until=until).filter(txn__reason__in=reasons)
    entries = entries.order_by("-created_at" if newest_first else "created_at")[: limit * 4]
    sums: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    first: dict[tuple[int, str], Any] = {}
    for entry in entries:  # one activity per transaction and asset (its buckets summed)
        key = (entry.txn_id, entry.asset)
        sums[key] += entry.amount
        first.setdefault(key, entry)
    out = []
    for key, entry in first.items():
        if sums[key] == 0:
            continue
        txn = entry.txn
        out.append((entry.created_at, {
            "id": f"{_stamp(entry.created_at)}::{txn.pk}:{entry.asset}",
            "account_id": str(account_id_of(user.pk)),
            "activity_type": NON_TRADE_TYPES[txn.reason],
            "date": entry.created_at.date().isoformat(),
            "net_amount": num(sums[key]),
            "description": txn.memo or txn.get_reason_display(),
            "status": "executed",
            "symbol": None if entry.asset == "USD" else entry.asset,
            "qty": None if entry.asset == "USD" else num(sums[key]),
            "per_share_amount": None,
        }))  # fmt: skip
    return out


def activity_list(user, *, types: set[str] | None, after, until, limit: int, newest_first: bool) -> list[dict]:
    """Fills and cash movements merged by time, ``limit`` of them."""
    wanted = types or {"FILL", *NON_TRADE_TYPES.values()}
    rows: list[tuple[datetime, dict]] = []
    if "FILL" in wanted:
        rows += _fills(user, after, until, limit, newest_first)
    if wanted - {"FILL"}:
        rows += _cash(user, after, until, limit, newest_first, wanted)
    rows.sort(key=lambda row: (row[0], row[1]["id"]), reverse=newest_first)
    return [activity for _, activity in rows[:limit]]
