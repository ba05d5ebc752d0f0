"""The ledger service: grants, balanced postings, locking buckets, refusals, reconcile."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Balance, LedgerAccount, LedgerEntry, LedgerTransaction
from portfolio.services import Leg, balance_adjust, ledger_post, system_account_get
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user

pytestmark = pytest.mark.django_db


def test_new_user_gets_the_starting_grant_as_a_ledger_transaction(user):
    """Creating a user opens their books with 10,000 USD and 0 SOL from `grants`."""
    account = LedgerAccount.objects.get(user=user)
    assert balances_of(user)["USD"] == Decimal("10000")
    assert balances_of(user)["SOL"] == 0
    txn = LedgerTransaction.objects.get(reason="grant", entries__account=account)
    amounts = sorted(e.amount for e in txn.entries.all())
    assert amounts == [Decimal("-10000"), Decimal("10000")]
    assert_books_ok()


def test_starting_grant_is_configurable(settings):
    """PORTFOLIO_START_USD / PORTFOLIO_START_SOL set the grant."""
    settings.PORTFOLIO_START_USD = Decimal("500")
    settings.PORTFOLIO_START_SOL = Decimal("2")
    user = make_user()
    assert balances_of(user)["USD"] == Decimal("500")
    assert balances_of(user)["SOL"] == Decimal("2")
    assert_books_ok()


def test_unbalanced_transaction_is_refused_and_writes_nothing(user):
    """Legs that do not sum to zero per asset raise LedgerImbalance before touching a row."""
    account = LedgerAccount.objects.get(user=user)
    house = system_account_get(code="house")
    before = LedgerEntry.objects.count()
    with pytest.raises(LedgerImbalance), transaction.atomic():
        ledger_post(reason="adjustment", legs=[Leg(account, "USD", Decimal("1")), Leg(house, "USD", Decimal("-0.5"))])
    with pytest.raises(LedgerImbalance), transaction.atomic():  # balanced in total, not per asset
        ledger_post(reason="adjustment", legs=[Leg(account, "USD", Decimal("1")), Leg(house, "SOL", Decimal("-1"))])
    assert LedgerEntry.objects.count() == before
    assert_books_ok()


def test_ledger_post_requires_a_transaction(user):
    """Posting outside transaction.atomic is a programming error."""
    account = LedgerAccount.objects.get(user=user)
    house = system_account_get(code="house")
    # pytest-django wraps the test in a transaction; a durable block proves the guard works on its own
    with pytest.raises(LedgerError):
        with transaction.atomic():
            ledger_post(reason="adjustment", legs=[Leg(account, "XYZ", Decimal("1")), Leg(house, "XYZ", Decimal("-1"))])


def test_overdraft_raises_insufficient_funds_and_rolls_back(user):
    """A debit beyond the free balance raises InsufficientFunds with asset/available/required."""
    account = LedgerAccount.objects.get(user=user)
    house = system_account_get(code="house")
    with pytest.raises(InsufficientFunds) as info, transaction.atomic():
        ledger_post(
            reason="adjustment",
            legs=[Leg(account, "USD", Decimal("-10000.01")), Leg(house, "USD", Decimal("10000.01"))],
        )
    assert info.value.extra == {"asset": "USD", "available": "10000.000000000", "required": "10000.010000000"}
    assert balances_of(user)["USD"] == Decimal("10000")
    assert_books_ok()


def test_locked_bucket_moves_free_to_locked_for_margin(user):
    """A free->locked move (issue 6 margin) keeps total, raises locked, and free cannot be overspent."""
    account = LedgerAccount.objects.get(user=user)
    with transaction.atomic():
        ledger_post(
            reason="margin",
            legs=[Leg(account, "USD", Decimal("-4000")), Leg(account, "USD", Decimal("4000"), bucket="locked")],
        )
    balances = balances_of(user)
    assert balances["USD"] == Decimal("6000") and balances["USD_locked"] == Decimal("4000")
    house = system_account_get(code="house")
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger_post(
            reason="adjustment", legs=[Leg(account, "USD", Decimal("-6001")), Leg(house, "USD", Decimal("6001"))]
        )
    # losing locked margin to the insurance fund (liquidation) keeps the books balanced
    insurance = system_account_get(code="insurance")
    with transaction.atomic():
        ledger_post(
            reason="liquidation",
            legs=[Leg(account, "USD", Decimal("-4000"), bucket="locked"), Leg(insurance, "USD", Decimal("4000"))],
        )
    balances = balances_of(user)
    assert balances["USD"] == Decimal("6000") and balances["USD_locked"] == 0
    assert_books_ok()


def test_system_accounts_spread_over_shards(settings):
    """Postings of different users land on different shard rows of `house`, which reconcile sums."""
    users = [make_user() for _ in range(3)]
    house = system_account_get(code="house")
    for user in users:
        account = LedgerAccount.objects.get(user=user)
        with transaction.atomic():
            ledger_post(
                reason="adjustment",
                legs=[Leg(account, "USD", Decimal("-1")), Leg(house, "USD", Decimal("1"))],
                shard_key=user.pk,
            )
    rows = Balance.objects.filter(account=house, asset="USD").exclude(total=0)
    assert rows.count() == len({u.pk % settings.LEDGER_SYSTEM_SHARDS for u in users})
    assert sum(r.total for r in rows) == Decimal("3")
    assert_books_ok()


def test_admin_style_adjustment_posts_against_grants_with_a_reason(user):
    """balance_adjust credits the user from `grants` and records the reason on the transaction."""
    account = LedgerAccount.objects.get(user=user)
    adjustment = balance_adjust(account=account, asset="USD", amount=Decimal("250"), reason="support ticket 42")
    assert balances_of(user)["USD"] == Decimal("10250")
    assert adjustment.txn.memo == "support ticket 42" and adjustment.txn.reason == "adjustment"
    with pytest.raises(InsufficientFunds):
        balance_adjust(account=account, asset="USD", amount=Decimal("-20000"), reason="too much")
    assert_books_ok()


def test_entries_are_append_only(user):
    """A saved ledger entry cannot be modified or deleted through the ORM instance."""
    entry = LedgerEntry.objects.filter(account__user=user).first()
    entry.amount = Decimal("1")
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()


def test_reconcile_command_passes_on_sound_books_and_fails_on_a_breach(user, capsys):
    """`manage.py reconcile` exits 0 on sound books and non-zero naming the breach after tampering."""
    call_command("reconcile")
    assert "reconcile ok" in capsys.readouterr().out
    Balance.objects.filter(account__user=user, asset="USD").update(total=Decimal("10001"))
    with pytest.raises(SystemExit) as info:
        call_command("reconcile")
    assert info.value.code == 1
    assert "balances_match_entries: 1 breach" in capsys.readouterr().out


def test_reconcile_detects_an_unbalanced_transaction(user, capsys):
    """An entry inserted behind the service's back (imbalance) is reported."""
    account = LedgerAccount.objects.get(user=user)
    txn = LedgerTransaction.objects.create(reason="adjustment")
    LedgerEntry.objects.bulk_create([LedgerEntry(txn=txn, account=account, asset="USD", amount=Decimal("5"))])
    with pytest.raises(SystemExit):
        call_command("reconcile")
    out = capsys.readouterr().out
    assert f"ledger transaction {txn.pk} sums to" in out
