"""Invariant checks over the books (``manage.py reconcile``, and every money test).

Portfolio's own checks run here; the apps above it add theirs through the ``reconcile_checks``
hook (``core.hooks``: trading registers its checks in ``TradingConfig.ready``; portfolio never
imports trading).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum

from core import hooks
from core.hooks import Check
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerTransaction, SpotHolding


def exact_sums(rows: QuerySet, *, by: tuple[str, ...], **sums: Sum) -> dict[tuple, dict[str, Decimal]]:
    """``{group key: {name: sum}}`` of ``rows`` grouped ``by`` those fields, exactly.

    PostgreSQL sums NUMERIC exactly (``GROUP BY`` in SQL). SQLite stores decimals as text but
    ``SUM`` adds them as binary floats (a balanced transaction "sums to" 1.9E-15), so in embedded
    mode the values are read and added as ``Decimal`` in Python (its books are small)."""
    if connection.vendor == "postgresql":
        return {
            tuple(row[f] for f in by): {name: row[name] or Decimal(0) for name in sums}
            for row in rows.values(*by).annotate(**sums).order_by()
        }
    out: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: {name: Decimal(0) for name in sums})
    for name, aggregate in sums.items():
        summed = aggregate.source_expressions[0]
        if not isinstance(summed, F):
            raise TypeError(f"exact_sums sums fields (F), not {summed!r}")
        field = summed.name
        picked = rows.filter(aggregate.filter) if aggregate.filter is not None else rows
        for values in picked.values_list(*by, field).iterator():
            out[tuple(values[:-1])][name] += values[-1] or Decimal(0)
    return dict(out)


def _transactions_balance() -> list[str]:
    sums = exact_sums(LedgerEntry.objects.all(), by=("txn_id", "asset"), total=Sum("amount"))
    bad = sorted((key, row["total"]) for key, row in sums.items() if row["total"] != 0)[:50]
    out = [f"ledger transaction {txn_id} sums to {total} {asset}" for (txn_id, asset), total in bad]
    empty = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n=0).values_list("pk", flat=True)[:50]
    out += [f"ledger transaction {pk} has no entries" for pk in empty]
    return out


def _balances_match_entries() -> list[str]:
    entries: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    by = ("account_id", "asset")
    for key, row in exact_sums(
        LedgerEntry.objects.all(), by=by, total=Sum("amount"), locked=Sum("amount", filter=Q(bucket=Bucket.LOCKED))
    ).items():
        entries[key] = [row["total"], row["locked"]]
    cached: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for key, row in exact_sums(Balance.objects.all(), by=by, total=Sum("total"), locked=Sum("locked")).items():
        cached[key] = [row["total"], row["locked"]]
    out = []
    for key in sorted(set(entries) | set(cached)):
        if entries[key] != cached[key]:
            out.append(f"account {key[0]} {key[1]}: balance {cached[key]} != entries {entries[key]}")
    return out


def _no_negative() -> list[str]:
    bad = Balance.objects.filter(Q(locked__lt=0) | Q(allow_negative=False, total__lt=F("locked")))
    out = [f"balance {b.pk} (account {b.account_id} {b.asset}) total={b.total} locked={b.locked}" for b in bad[:50]]
    wrong_flag = Balance.objects.filter(account__kind=LedgerAccount.Kind.USER, allow_negative=True)
    out += [f"user balance {b.pk} allows negative" for b in wrong_flag[:50]]
    return out


def _holdings_match() -> list[str]:
    """Every spot book's quantity equals its asset's balance, and every token balance has a book."""
    tokens = Balance.objects.filter(account__kind=LedgerAccount.Kind.USER).exclude(asset=Asset.USD)
    sums = exact_sums(tokens, by=("account_id", "asset"), total=Sum("total"))
    held = {(key[0], key[1]): row["total"] for key, row in sums.items()}
    out = []
    seen = set()
    for holding in SpotHolding.objects.all().only("account_id", "asset", "qty", "cost_basis"):
        key = (holding.account_id, holding.asset)
        seen.add(key)
        if holding.qty != held.get(key, Decimal(0)):
            out.append(f"{holding.asset} book of account {holding.account_id}: qty {holding.qty} != balance")
        if holding.qty == 0 and holding.cost_basis != 0:
            out.append(
                f"{holding.asset} book of account {holding.account_id}: cost basis {holding.cost_basis}, none held"
            )
    out += [f"{asset} balance of account {account} has no book" for (account, asset), qty in held.items()
            if qty and (account, asset) not in seen]  # fmt: skip
    return out


CHECKS: dict[str, Check] = {
    "transactions_balance": _transactions_balance,
    "balances_match_entries": _balances_match_entries,
    "no_negative_balances": _no_negative,
    "holdings_match_balances": _holdings_match,
}


def reconcile_run() -> dict[str, list[str]]:
    """Every check by name -> its breaches (empty lists when the books are sound)."""
    return {name: check() for name, check in {**CHECKS, **hooks.reconcile_checks()}.items()}
