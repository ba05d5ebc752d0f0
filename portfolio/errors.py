"""Portfolio errors with stable codes."""

from __future__ import annotations

from core.errors import DomainError


class InsufficientFunds(DomainError):
    status = 422
    code = "insufficient_funds"
    message = "Insufficient funds."


class AccountNotOpen(DomainError):
    status = 404
    code = "account_not_open"
    message = "This user has no trading account."


class ResetBlocked(DomainError):
    status = 409
    code = "reset_blocked"
    message = "The account has locked funds (open positions or resting orders); close or cancel them before a reset."


class LedgerImbalance(Exception):
    """A programming error: a ledger transaction that does not sum to zero per asset."""


class LedgerError(Exception):
    """A programming error: a malformed leg (unknown asset, bucket, non-finite amount)."""
