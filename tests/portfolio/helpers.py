"""Shared helpers for money tests: users with wallets, the ledger invariant."""

from __future__ import annotations

from decimal import Decimal

from solders.keypair import Keypair


def new_address() -> str:
    return str(Keypair().pubkey())


def make_user(**extra):
    from accounts.models import User

    address = new_address()
    return User.objects.create_user(username=address, address=address, **extra)


def assert_books_ok() -> None:
    """The ledger invariant: every transaction sums to zero per asset, every balance equals
    its entries, nothing negative, holdings match, every fill has its ledger rows."""
    from portfolio.reconcile import reconcile_run

    breaches = {name: problems for name, problems in reconcile_run().items() if problems}
    assert breaches == {}, breaches


def balances_of(user) -> dict[str, Decimal]:
    """``{"USD": free, "SOL": free, "USD_locked": ...}`` of the user's books."""
    from portfolio.models import Balance

    out: dict[str, Decimal] = {}
    for row in Balance.objects.filter(account__user=user):
        out[row.asset] = row.total - row.locked
        out[f"{row.asset}_locked"] = row.locked
    return out


def auth_context(*scopes: str):
    """``request.auth`` of a signed-in session (all scopes) or of an API key with ``scopes``."""
    from accounts.tokens import AuthContext

    if scopes:
        return AuthContext(kind="api_key", session_id="apikey-test", scopes=frozenset(scopes), api_key_id="test")
    return AuthContext(kind="session", session_id="test-session", scopes=frozenset({"read", "trade"}))


def authed_client(user, *scopes: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=user, token=auth_context(*scopes))
    return client
