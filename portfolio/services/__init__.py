"""Every write to money goes through these services (see docs/ledger.md)."""

from portfolio.services.accounts import account_open, account_reset, balance_adjust, system_account_get
from portfolio.services.holdings import Book, book_after_fill, holding_apply_fill, holding_get_or_create
from portfolio.services.ledger import (
    Leg,
    Posting,
    balance_lock,
    balance_rows_lock,
    ledger_post,
    ledger_post_many,
    ledger_post_many_ids,
    shard_for,
)

__all__ = [
    "Book",
    "Leg",
    "Posting",
    "account_open",
    "account_reset",
    "balance_adjust",
    "balance_lock",
    "balance_rows_lock",
    "book_after_fill",
    "holding_apply_fill",
    "holding_get_or_create",
    "ledger_post",
    "ledger_post_many",
    "ledger_post_many_ids",
    "shard_for",
    "system_account_get",
]
