"""Trading errors with stable codes."""

from __future__ import annotations

from config.errors import DomainError


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
