"""Invariant checks over the books (``manage.py reconcile``, and every money test).

Portfolio's own checks run here; other apps (trading) register theirs with
``register_check`` in their ``AppConfig.ready`` (portfolio never imports trading).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerEntry, LedgerTransaction, SpotHolding

Check = Callable[[], list[str]]
_extra_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    _extra_checks[name] = check


def _transactions_balance() -> list[str]:
    bad = (
        LedgerEntry.objects.values("txn_id", "asset")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("txn_id")[:50]
    )
    out = [f"ledger transaction {row['txn_id']} sums to {row['total']} {row['asset']}" for row in bad]
    empty = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n=0).values_list("pk", flat=True)[:50]
    out += [f"ledger transaction {pk} has no entries" for pk in empty]
    return out


def _balances_match_entries() -> list[str]:
    entries: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in LedgerEntry.objects.values("account_id", "asset").annotate(
        total=Sum("amount"), locked=Sum("amount", filter=Q(bucket=Bucket.LOCKED))
    ):
        entries[(row["account_id"], row["asset"])] = [row["total"] or Decimal(0), row["locked"] or Decimal(0)]
    cached: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in Balance.objects.values("account_id", "asset").annotate(total=Sum("total"), locked=Sum("locked")):
        cached[(row["account_id"], row["asset"])] = [row["total"], row["locked"]]
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
    sol = {
        row["account_id"]: row["total"]
        for row in Balance.objects.filter(asset=Asset.SOL, account__kind=LedgerAccount.Kind.USER)
        .values("account_id")
        .annotate(total=Sum("total"))
    }
    out = []
    for holding in SpotHolding.objects.all().only("account_id", "qty", "cost_basis"):
        if holding.qty != sol.get(holding.account_id, Decimal(0)):
            out.append(f"holding of account {holding.account_id}: qty {holding.qty} != SOL balance")
        if holding.qty == 0 and holding.cost_basis != 0:
            out.append(f"holding of account {holding.account_id}: cost basis {holding.cost_basis} with no SOL")
    return out


CHECKS: dict[str, Check] = {
    "transactions_balance": _transactions_balance,
    "balances_match_entries": _balances_match_entries,
    "no_negative_balances": _no_negative,
    "holdings_match_balances": _holdings_match,
}


def reconcile_run() -> dict[str, list[str]]:
    """Every check by name -> its breaches (empty lists when the books are sound)."""
    return {name: check() for name, check in {**CHECKS, **_extra_checks}.items()}
