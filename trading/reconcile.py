"""Trading's reconcile checks: every filled order has its fills and ledger rows (a position's
filled limit entry its position record); what is locked is exactly the open positions' margin and
the open orders' holds."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, Sum

from core.hooks import Check
from portfolio.models import LedgerReason, LedgerTransaction
from trading.funding_reconcile import funding_payments_have_ledger_rows
from trading.models import Fill, Order, OrderStatus


def filled_orders_have_fills() -> list[str]:
    out = []
    orders = (
        Order.objects.filter(status=OrderStatus.FILLED, leverage__isnull=True)  # a position's entry: below
        .annotate(n=Count("fills"), qty_sum=Sum("fills__qty"))
        .values("pk", "n", "qty_sum", "filled_qty")
    )
    for row in orders.iterator():
        if row["n"] == 0:
            out.append(f"filled order {row['pk']} has no fill")
        elif row["qty_sum"] != row["filled_qty"]:
            out.append(f"order {row['pk']}: fills sum {row['qty_sum']} != filled_qty {row['filled_qty']}")
    return out[:50]


def filled_entries_have_position_orders() -> list[str]:
    """A filled limit entry of a position (an order with ``leverage``) has its position record
    (``PositionOrder`` ``entry:<order id>``) of the size it filled; its money is the position's."""
    from trading.models import PositionOrder

    records = dict(
        PositionOrder.objects.filter(client_order_id__startswith="entry:").values_list("client_order_id", "qty")
    )
    entries = Order.objects.filter(status=OrderStatus.FILLED, leverage__isnull=False).values_list("pk", "filled_qty")
    out = []
    for pk, filled_qty in entries.iterator():
        qty = records.get(f"entry:{pk}")
        if qty != filled_qty:
            out.append(f"filled entry {pk}: position record qty {qty} != filled_qty {filled_qty}")
    return out[:50]


def fills_have_ledger_rows() -> list[str]:
    out = []
    fills = Fill.objects.select_related("ledger_txn").annotate(n=Count("ledger_txn__entries"))
    for fill in fills.iterator():
        txn = fill.ledger_txn
        if fill.n == 0 or txn.reason != LedgerReason.TRADE or txn.reference_id != str(fill.order_id):
            out.append(f"fill {fill.pk} has no matching trade ledger transaction")
    orphans = LedgerTransaction.objects.filter(reason=LedgerReason.TRADE, fill__isnull=True).values_list(
        "pk", flat=True
    )
    out += [f"trade ledger transaction {pk} has no fill" for pk in orphans[:50]]
    return out[:50]


def locked_matches_margin_and_holds() -> list[str]:
    """Per user account and asset: locked == the margin of its open positions (USD) + what its
    open orders hold (USD for buys, the base asset for sells); nothing else locks."""
    from portfolio.models import Asset, Balance, LedgerAccount
    from portfolio.reconcile import exact_sums
    from trading.models import Position, PositionStatus

    open_positions = Position.objects.filter(status=PositionStatus.OPEN)
    margin = exact_sums(open_positions, by=("account_id",), m=Sum("margin"))
    holds = exact_sums(
        Order.objects.filter(status=OrderStatus.NEW).exclude(held=0), by=("user_id", "held_asset"), h=Sum("held")
    )
    account_of = dict(LedgerAccount.objects.filter(kind=LedgerAccount.Kind.USER).values_list("user_id", "pk"))
    expected: dict[tuple[int, str], Decimal] = {}
    for (account_id,), row in margin.items():
        expected[(account_id, Asset.USD)] = row["m"]
    for (user_id, asset), row in holds.items():
        key = (account_of.get(user_id, -1), asset)
        expected[key] = expected.get(key, Decimal(0)) + row["h"]
    users = Balance.objects.filter(account__kind=LedgerAccount.Kind.USER)
    locked = {key: row["l"] for key, row in exact_sums(users, by=("account_id", "asset"), l=Sum("locked")).items()}
    out = []
    for key in sorted(set(expected) | set(locked)):
        want, have = expected.get(key) or 0, locked.get(key) or 0
        if want != have:
            out.append(f"account {key[0]} {key[1]}: margin + holds {want} != locked {have}")
    return out[:50]


def positions_have_ledger_rows() -> list[str]:
    """Every position has one open and at most one terminal ledger transaction; ended ones exactly one."""
    from trading.models import Position, PositionEvent, PositionEventKind, PositionStatus

    out = []
    rows = Position.objects.annotate(
        opens=Count("events", filter=Q(events__kind=PositionEventKind.OPEN)),
        liqs=Count("events", filter=Q(events__kind=PositionEventKind.LIQUIDATION)),
        closes=Count("events", filter=Q(events__kind=PositionEventKind.CLOSE)),
    ).values("pk", "status", "opens", "liqs", "closes")
    for row in rows.iterator():
        if row["opens"] != 1:
            out.append(f"position {row['pk']} has {row['opens']} open events")
        if row["status"] == PositionStatus.LIQUIDATED and (row["liqs"] != 1):
            out.append(f"liquidated position {row['pk']} has {row['liqs']} liquidation events")
        if row["status"] == PositionStatus.CLOSED and (row["liqs"] != 0 or row["closes"] < 1):
            out.append(f"closed position {row['pk']}: {row['closes']} closes, {row['liqs']} liquidations")
        if row["status"] == PositionStatus.OPEN and row["liqs"]:
            out.append(f"open position {row['pk']} has a liquidation")
    reasons: dict[str, str] = {
        PositionEventKind.OPEN: "margin",
        PositionEventKind.INCREASE: "margin",
        PositionEventKind.CLOSE: "realized_pnl",
        PositionEventKind.LIQUIDATION: "liquidation",
    }
    events = PositionEvent.objects.select_related("ledger_txn").only(
        "pk", "kind", "position_id", "ledger_txn__reason", "ledger_txn__reference_id"
    )
    for event in events.iterator():
        txn = event.ledger_txn
        if txn.reason != reasons[event.kind] or txn.reference_id != str(event.position_id):
            out.append(f"position event {event.pk} ({event.kind}) has a mismatched ledger transaction")
    orphans = LedgerTransaction.objects.filter(
        reason__in=["margin", "realized_pnl", "liquidation"], reference_type="position", position_event__isnull=True
    ).values_list("pk", flat=True)
    out += [f"{pk}: position ledger transaction without a position event" for pk in orphans[:50]]
    return out[:50]


def trading_checks() -> dict[str, Check]:
    """Trading's invariants by name, run by ``portfolio.reconcile`` (the ``reconcile_checks`` hook)."""
    return {
        "filled_orders_have_fills": filled_orders_have_fills,
        "filled_entries_have_position_orders": filled_entries_have_position_orders,
        "fills_have_ledger_rows": fills_have_ledger_rows,
        "locked_matches_margin_and_holds": locked_matches_margin_and_holds,
        "positions_have_ledger_rows": positions_have_ledger_rows,
        "funding_payments_have_ledger_rows": funding_payments_have_ledger_rows,
    }
