"""Signal receivers: a new user gets their books and the starting grant in the same transaction."""

from __future__ import annotations


def open_account_for_new_user(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    from portfolio.services.accounts import account_open

    account_open(user=instance)
