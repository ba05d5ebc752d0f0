"""``ledger_post_many``: a batch of transactions in a fixed number of statements, same rules as ``ledger_post``."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from portfolio.errors import InsufficientFunds, LedgerError, LedgerImbalance
from portfolio.models import Balance, LedgerAccount, LedgerEntry, LedgerTransaction
from portfolio.services import Leg, Posting, ledger_post, ledger_post_many, ledger_post_many_ids, system_account_get
from tests.portfolio.helpers import balances_of, make_user

pytestmark = pytest.mark.django_db


def assert_ledger_ok() -> None:
    """The ledger's own reconcile checks (these postings lock margin without positions, which
    trading's checks would rightly flag)."""
    from portfolio.reconcile import reconcile_run

    checks = {"transactions_balance", "balances_match_entries", "no_negative_balances"}
    report = reconcile_run()
    assert checks <= set(report)
    assert {name: report[name] for name in checks if report[name]} == {}


def _books() -> tuple:
    """Everything a refused batch must leave untouched."""
    rows = tuple(Balance.objects.order_by("pk").values_list("pk", "total", "locked"))
    return LedgerTransaction.objects.count(), LedgerEntry.objects.count(), rows


def _margin(account: LedgerAccount, amount: D, ref: str) -> Posting:
    legs = [Leg(account, "USD", -amount), Leg(account, "USD", amount, bucket="locked")]
    return Posting(reason="margin", legs=legs, reference_type="test", reference_id=ref, shard_key=account.user_id)


def test_a_batch_posts_every_transaction_in_order_and_keeps_the_books():
    """Three users, several postings each (one a loss to the house through the locked bucket): ids
    come back in the postings' order with their references, balances move by the summed deltas."""
    users = [make_user() for _ in range(3)]
    accounts = [LedgerAccount.objects.get(user=u) for u in users]
    house = system_account_get(code="house")
    postings = []
    for i, account in enumerate(accounts):
        postings.append(_margin(account, D(100), f"open-{i}"))
        postings.append(_margin(account, D("50.5"), f"open2-{i}"))
    postings.append(
        Posting(
            reason="liquidation",
            legs=[Leg(accounts[0], "USD", D(-100), bucket="locked"), Leg(house, "USD", D(100))],
            reference_type="test",
            reference_id="open-0",
            memo="m" * 300,
            shard_key=users[0].pk,
        )
    )
    with transaction.atomic():
        txns = ledger_post_many(postings=postings)
    assert [t.reference_id for t in txns] == [p.reference_id for p in postings]
    assert [t.pk for t in txns] == sorted(t.pk for t in txns)
    for txn, posting in zip(txns, postings, strict=True):
        stored = LedgerTransaction.objects.get(pk=txn.pk)
        assert (stored.reason, stored.reference_id, stored.memo) == (posting.reason, posting.reference_id, txn.memo)
        assert sorted(e.amount for e in stored.entries.all()) == sorted(leg.amount for leg in posting.legs)
    assert len(txns[-1].memo) == 255
    assert balances_of(users[0]) | {} == {
        "USD": D("9849.5"),
        "USD_locked": D("50.5"),
        "SOL": D(0),
        "SOL_locked": D(0),
    }
    assert balances_of(users[1])["USD_locked"] == D("150.5")
    assert_ledger_ok()


def test_the_ids_variant_posts_the_same_and_answers_the_ids_in_the_postings_order():
    """``ledger_post_many_ids``: same postings, same books; plain ids (no instances), in order."""
    accounts = [LedgerAccount.objects.get(user=make_user()) for _ in range(3)]
    postings = [_margin(accounts[i % 3], D(i + 1), f"ids-{i}") for i in range(7)]
    with transaction.atomic():
        ids = ledger_post_many_ids(postings=postings)
    assert all(type(i) is int for i in ids) and len(set(ids)) == 7
    refs = dict(LedgerTransaction.objects.filter(pk__in=ids).values_list("pk", "reference_id"))
    assert [refs[i] for i in ids] == [p.reference_id for p in postings]
    assert LedgerEntry.objects.filter(txn_id__in=ids).count() == 14
    assert_ledger_ok()


def test_statement_count_does_not_grow_with_the_batch():
    """PostgreSQL: lock, balance update, transactions, entries: four statements for 1 or 40 postings."""
    if connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    accounts = [LedgerAccount.objects.get(user=make_user()) for _ in range(20)]
    counts = []
    for size in (1, 40):
        postings = [_margin(accounts[i % 20], D(1), f"r{i}") for i in range(size)]
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            ledger_post_many(postings=postings)
        counts.append(len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]))
    assert counts == [4, 4]
    assert_ledger_ok()


def test_an_unbalanced_posting_refuses_the_whole_batch_and_changes_nothing():
    """One posting that does not balance per asset: LedgerImbalance, no row written or changed."""
    accounts = [LedgerAccount.objects.get(user=make_user()) for _ in range(2)]
    house = system_account_get(code="house")
    before = _books()
    bad = Posting(reason="adjustment", legs=[Leg(accounts[1], "USD", D(1)), Leg(house, "SOL", D(-1))])
    with pytest.raises(LedgerImbalance), transaction.atomic():
        ledger_post_many(postings=[_margin(accounts[0], D(10), "ok"), bad])
    assert _books() == before
    assert_ledger_ok()


def test_a_batch_overdrawing_a_user_is_refused_whole():
    """Each posting fits alone, together they exceed the user's free USD: InsufficientFunds (on the
    summed delta), and nothing changes, not even the other users' postings."""
    first, second = (LedgerAccount.objects.get(user=make_user()) for _ in range(2))
    before = _books()
    postings = [_margin(second, D(10), "other"), _margin(first, D(6000), "a"), _margin(first, D(6000), "b")]
    with pytest.raises(InsufficientFunds) as info, transaction.atomic():
        ledger_post_many(postings=postings)
    assert info.value.extra == {"asset": "USD", "available": "10000.000000000", "required": "12000.000000000"}
    assert _books() == before
    assert_ledger_ok()


def test_releasing_more_than_is_locked_is_refused():
    """A locked bucket may not go negative (a programming error, LedgerError); nothing changes."""
    account = LedgerAccount.objects.get(user=make_user())
    house = system_account_get(code="house")
    before = _books()
    release = Posting(reason="liquidation", legs=[Leg(account, "USD", D(-1), bucket="locked"), Leg(house, "USD", D(1))])
    with pytest.raises(LedgerError), transaction.atomic():
        ledger_post_many(postings=[release])
    assert _books() == before


def test_a_missing_system_shard_row_is_created_under_the_lock():
    """A system account whose shard row does not exist yet gets it (allow_negative) inside the batch."""
    account = LedgerAccount.objects.get(user=make_user())
    insurance = system_account_get(code="insurance")
    Balance.objects.filter(account=insurance, asset="USD", shard=account.user_id % 16).delete()
    with transaction.atomic():
        ledger_post_many(
            postings=[
                _margin(account, D(5), "m"),
                Posting(
                    reason="liquidation",
                    legs=[Leg(account, "USD", D(-5), bucket="locked"), Leg(insurance, "USD", D(5))],
                    shard_key=account.user_id,
                ),
            ]
        )
    row = Balance.objects.get(account=insurance, asset="USD", shard=account.user_id % 16)
    assert row.allow_negative and row.total == D(5)
    assert_ledger_ok()


def test_ledger_post_still_posts_one_transaction():
    """The single-posting API returns the saved transaction with its entries."""
    user = make_user()
    account = LedgerAccount.objects.get(user=user)
    with transaction.atomic():
        txn = ledger_post(
            reason="margin",
            legs=[Leg(account, "USD", D(-7)), Leg(account, "USD", D(7), bucket="locked")],
            reference_type="test",
            reference_id="x",
        )
    assert txn.pk and LedgerTransaction.objects.get(pk=txn.pk).entries.count() == 2
    assert balances_of(user)["USD_locked"] == D(7)
    assert_ledger_ok()


def test_the_database_refuses_a_negative_free_balance_on_its_own():
    """The CHECK constraint stays the last line of defence under the set-based update."""
    account = LedgerAccount.objects.get(user=make_user())
    with pytest.raises(IntegrityError), transaction.atomic():
        Balance.objects.filter(account=account, asset="USD").update(locked=D(20000))
