"""Accounts' domain errors: stable codes, HTTP statuses, rendered by core.errors."""

from __future__ import annotations

from core.errors import DomainError

# Sign-in codes that mean "the request itself is not well formed" -> 400; the rest -> 401/409.
_BAD_REQUEST = {
    "MESSAGE_MALFORMED",
    "ADDRESS_INVALID",
    "SIGNATURE_ENCODING",
    "SIGNATURE_LENGTH",
    "NONCE_MISSING",
    "ISSUED_AT_MISSING",
    "ISSUED_AT_INVALID",
    "TIME_INVALID",
}
_CONFLICT = {"NONCE_REUSED"}


class SignInRefused(DomainError):
    """A SIWS verification failed; ``code`` is one of the SIWS codes (docs/auth.md)."""

    status = 401
    code = "SIGNATURE_INVALID"
    message = "Sign-in refused."

    def __init__(self, code: str, message: str) -> None:
        status = 400 if code in _BAD_REQUEST else 409 if code in _CONFLICT else 401
        super().__init__(message, code=code, status=status)


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; retry later."

    def __init__(self, *, retry_after: int, scope: str) -> None:
        super().__init__(
            f"Too many {scope} requests; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            extra={"retry_after": retry_after, "scope": scope},
        )


class AccountDisabled(DomainError):
    status = 403
    code = "account_disabled"
    message = "This account is disabled."


class SessionRequired(DomainError):
    status = 403
    code = "session_required"
    message = "This operation needs a signed-in session, not an API key."


class ScopeMissing(DomainError):
    status = 403
    code = "scope_missing"
    message = "The API key lacks the scope this operation needs."


class ApiKeyLimit(DomainError):
    status = 409
    code = "api_key_limit"
    message = "Too many active API keys; revoke one first."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."
