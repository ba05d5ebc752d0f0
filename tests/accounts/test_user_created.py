"""Every way a user is created calls the ``user_created`` hook once, in the creating transaction:
portfolio opens the user's books with the starting grant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.models import User
from core import hooks
from portfolio.models import LedgerAccount, LedgerTransaction
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import sign_in
from tests.portfolio.helpers import assert_books_ok, balances_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def created():
    """The users the hook was called for, on their way to portfolio's implementation."""
    users: list[int] = []
    portfolio = hooks.user_created.implementation

    def recording(*, user):
        users.append(user.pk)
        portfolio(user=user)

    with hooks.user_created.replaced(recording):
        yield users


def _has_books(user) -> bool:
    account = LedgerAccount.objects.filter(user=user).first()
    return (
        account is not None
        and balances_of(user)["USD"] == Decimal("10000")
        and LedgerTransaction.objects.filter(reason="grant", entries__account=account).count() == 1
    )


def test_create_user_opens_the_books(created):
    """``User.objects.create_user`` (createsuperuser, scripts, tests) calls the hook once."""
    user = User.objects.create_user("ops-1", "pw-ops-123")
    assert created == [user.pk] and _has_books(user)
    assert_books_ok()


def test_a_failing_hook_leaves_no_user(created):
    """The user and its books commit together: the hook failing undoes the user's creation."""

    def broken(*, user):
        raise RuntimeError("books unavailable")

    with hooks.user_created.replaced(broken), pytest.raises(RuntimeError):
        User.objects.create_user("ops-2")
    assert not User.objects.filter(username="ops-2").exists()


def test_a_first_sign_in_opens_the_books_and_a_second_does_not_again(created):
    """Sign-in creates the wallet's user once; signing in again calls no hook."""
    keypair = Keypair()
    _, user = sign_in(APIClient(), keypair=keypair)
    assert created == [user.pk] and _has_books(user)
    _, again = sign_in(APIClient(), keypair=keypair)
    assert again.pk == user.pk and created == [user.pk]
    assert_books_ok()


NO_INLINE_ROWS = {
    f"{prefix}-{field}": "0" for prefix in ("auth_sessions", "api_keys") for field in ("TOTAL_FORMS", "INITIAL_FORMS")
}


def test_a_user_added_in_the_admin_gets_the_books(created):
    """The admin's add form saves the user itself; it calls the hook like create_user (and a later
    change of that user does not)."""
    client = APIClient()
    client.force_login(User.objects.create_superuser("root", "pw-root-123"))
    form = {"username": "added", "usable_password": "true", "password1": "pw-added-123", "password2": "pw-added-123"}
    assert client.post("/admin/accounts/user/add/", {**form, **NO_INLINE_ROWS}).status_code == 302
    added = User.objects.get(username="added")
    assert created[-1] == added.pk and _has_books(added)
    change = {"username": "added", "address": "", "is_active": "on", **NO_INLINE_ROWS}
    assert client.post(f"/admin/accounts/user/{added.pk}/change/", change).status_code == 302
    assert created.count(added.pk) == 1
    assert_books_ok()


def test_factory_users_get_the_books(created):
    """UserFactory creates through create_user, as every real path does."""
    user = UserFactory()
    assert created == [user.pk] and _has_books(user)
