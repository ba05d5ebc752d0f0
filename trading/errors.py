"""Trading errors with stable codes."""

from __future__ import annotations

from core.errors import DomainError, ServiceUnavailable


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    message = "This client_order_id was already used with a different request body."


class IdempotencyKeyMismatch(DomainError):
    status = 422
    code = "idempotency_key_mismatch"
    message = "The Idempotency-Key header and client_order_id differ."


class OrderRuleViolation(DomainError):
    """A lot rule (min qty, step, min/max notional) refused the order; ``code`` names the rule."""

    status = 422
    code = "order_rule_violation"


class PositionNotFound(DomainError):
    status = 404
    code = "not_found"
    message = "No such position."


class PositionNotOpen(DomainError):
    status = 409
    code = "position_not_open"
    message = "The position is no longer open (closed or liquidated)."


class CloseQtyTooLarge(DomainError):
    status = 422
    code = "qty_exceeds_position"
    message = "The quantity to close is larger than the open position."


class SlippageExceeded(DomainError):
    status = 409
    code = "slippage_exceeded"
    message = "The server's fill price is outside the slippage tolerance around currentPrice."


class LockWaitTimeout(ServiceUnavailable):
    """The command waited longer than ``TRADING_LOCK_TIMEOUT_MS`` for its rows (behind a long
    liquidation batch, say): nothing was written; retry."""

    code = "lock_timeout"
    message = "The account is busy (another operation holds it); nothing was done. Retry shortly."


class CloseLeavesDust(DomainError):
    status = 422
    code = "close_leaves_dust"
    message = "This partial close would leave less than the minimum quantity open; close all or less."


class OrderNotFound(DomainError):
    status = 404
    code = "not_found"
    message = "No such order."


class OrderNotCancelable(DomainError):
    status = 409
    code = "not_cancelable"
    message = "The order is no longer open (filled, canceled, expired, rejected or replaced)."


class OrderNotReplaceable(DomainError):
    status = 409
    code = "not_replaceable"
    message = "The order is no longer open (filled, canceled, expired, rejected or replaced), or its stop triggered."
