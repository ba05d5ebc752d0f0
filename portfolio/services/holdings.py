"""A spot asset's book at average cost: updated by every spot fill inside the fill's transaction.

``book_after_fill`` is the maths (pure); ``holding_apply_fill`` applies it to one locked row, and
the trigger engine's batches (``trading.services.trigger_batch``) to many rows at once."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from django.utils import timezone

from core.money import usd
from portfolio.models import LedgerAccount, SpotHolding


class Book(NamedTuple):
    """The figures of a ``SpotHolding`` a fill changes."""

    qty: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    volume: Decimal
    trade_count: int


def book_after_fill(book: Book, *, side: str, qty: Decimal, notional: Decimal, fee: Decimal) -> Book:
    """A buy adds ``notional`` to the cost basis; a sell realizes ``notional - avg_cost * qty``
    (the average cost's share banker's-rounded to the micro-dollar; all of it when the sell takes
    the whole book). Fees are tracked apart in ``fees_paid``."""
    if side == "buy":
        new_qty, cost_basis, realized = book.qty + qty, book.cost_basis + notional, book.realized_pnl
    else:
        removed = book.cost_basis if qty >= book.qty else usd(book.cost_basis * qty / book.qty)
        realized = book.realized_pnl + (notional - removed)
        cost_basis, new_qty = book.cost_basis - removed, book.qty - qty
    return Book(new_qty, cost_basis, realized, book.fees_paid + fee, book.volume + notional, book.trade_count + 1)


def holding_get_or_create(*, account: LedgerAccount, asset: str, lock: bool = False) -> SpotHolding:
    """``account``'s book of ``asset``, created empty on the first use (SOL's exists from the
    account's opening; the others appear with their first fill or adjustment)."""
    rows = SpotHolding.objects.filter(account=account, asset=asset)
    holding = (rows.select_for_update(of=("self",)) if lock else rows).first()
    if holding is None:
        SpotHolding.objects.bulk_create([SpotHolding(account=account, asset=asset)], ignore_conflicts=True)
        holding = (rows.select_for_update(of=("self",)) if lock else rows).get()
    return holding


def holding_apply_fill(
    *, account: LedgerAccount, asset: str, side: str, qty: Decimal, notional: Decimal, fee: Decimal
) -> SpotHolding:
    """Apply a fill to ``account``'s book of ``asset`` (locked, created when missing):
    ``book_after_fill``."""
    holding = holding_get_or_create(account=account, asset=asset, lock=True)
    before = Book(
        holding.qty, holding.cost_basis, holding.realized_pnl, holding.fees_paid, holding.volume, holding.trade_count
    )
    after = book_after_fill(before, side=side, qty=qty, notional=notional, fee=fee)
    holding.qty, holding.cost_basis, holding.realized_pnl = after.qty, after.cost_basis, after.realized_pnl
    holding.fees_paid, holding.volume, holding.trade_count = after.fees_paid, after.volume, after.trade_count
    holding.updated_at = timezone.now()
    holding.save(
        update_fields=["qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count", "updated_at"]
    )
    return holding
