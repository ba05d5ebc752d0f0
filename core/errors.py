"""One error shape for every API response: ``{"code", "message", "extra"}``.

* ``DomainError`` subclasses carry a stable ``code`` and an HTTP status; services
  raise them, views never build error bodies themselves.
* ``api_exception_handler`` (DRF's EXCEPTION_HANDLER) renders DRF's own errors,
  domain errors and anything unexpected (a 500 that leaks no traceback).
* A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's ``RequestDataTooBig``, or too many
  form fields / files) is 413 ``payload_too_large`` on every path, never a 500 or a 400.
* The same shape for requests that never reach a DRF view (Django's ``handler400/403/404/500``,
  ``csrf_failure``) is wired in ``config/errors.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from django import db
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions as drf_exc
from rest_framework.response import Response

logger = logging.getLogger("config.errors")  # the logger name ops filter on (kept)


class DomainError(Exception):
    """A business rule said no. Subclass it, or raise it with a code."""

    status = 422
    code = "domain_error"
    message = "The request was refused."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ServiceUnavailable(DomainError):
    """A dependency is not ready (stale price, database down): retry later."""

    status = 503
    code = "service_unavailable"
    message = "Temporarily unavailable; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Retry-After", str(retry_after))
        extra = dict(kwargs.pop("extra", None) or {})
        extra.setdefault("retry_after", retry_after)
        super().__init__(message, headers=headers, extra=extra, **kwargs)


class PayloadTooLarge(DomainError):
    """The request body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (or carries too many fields)."""

    status = 413
    code = "payload_too_large"
    message = "The request body is too large."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if message is None and limit is not None:  # the body-size case: say the limit
            message = f"The request body is larger than the limit of {limit} bytes."
            kwargs["extra"] = {"limit_bytes": limit, **(kwargs.get("extra") or {})}
        super().__init__(message, **kwargs)


# What Django raises while reading an oversized body (all are SuspiciousOperation: a 400 by default).
TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def payload_too_large_error(exc: Exception) -> PayloadTooLarge:
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return PayloadTooLarge(
        "The request carries too many fields or files.",
        extra={
            "limit_fields": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
            "limit_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        },
    )


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def _flatten_validation(detail: Any) -> dict[str, Any]:
    """Turn DRF's nested ErrorDetail structure into {field: [{code, message}]}."""
    fields: dict[str, list[dict[str, str]]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    walk(value, f"{path}[{index}]" if path else str(index))
                else:
                    walk(value, path)
        else:
            key = path or "non_field_errors"
            fields.setdefault(key, []).append({"code": str(getattr(node, "code", "invalid")), "message": str(node)})

    walk(detail, "")
    return fields


_DRF_CODES: dict[type, str] = {
    drf_exc.ParseError: "malformed_request",
    drf_exc.AuthenticationFailed: "authentication_failed",
    drf_exc.NotAuthenticated: "not_authenticated",
    drf_exc.PermissionDenied: "permission_denied",
    drf_exc.NotFound: "not_found",
    drf_exc.MethodNotAllowed: "method_not_allowed",
    drf_exc.NotAcceptable: "not_acceptable",
    drf_exc.UnsupportedMediaType: "unsupported_media_type",
    drf_exc.Throttled: "rate_limited",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, TOO_LARGE):
        exc = payload_too_large_error(exc)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.extra), status=exc.status, headers=exc.headers)
    if isinstance(exc, Http404):
        exc = drf_exc.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exc.PermissionDenied()

    if isinstance(exc, drf_exc.ValidationError):
        fields = _flatten_validation(exc.detail)
        first_field, first_errors = next(iter(fields.items()))
        message = f"{first_field}: {first_errors[0]['message']}"
        return Response(error_body("validation_error", message, {"fields": fields}), status=400)

    if isinstance(exc, drf_exc.APIException):
        code = _DRF_CODES.get(type(exc)) or next((c for klass, c in _DRF_CODES.items() if isinstance(exc, klass)), None)
        message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else str(exc.default_detail)
        if isinstance(exc, drf_exc.PermissionDenied) and message.startswith("CSRF Failed"):
            code = "csrf_failed"
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        auth_header: str | None = getattr(exc, "auth_header", None)  # set by DRF's views on 401s
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait: float | None = getattr(exc, "wait", None)  # set by Throttled.__init__ (not in its stub)
        if isinstance(exc, drf_exc.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait) + (wait % 1 > 0))
            extra["retry_after"] = int(headers["Retry-After"])
        if isinstance(exc, drf_exc.MethodNotAllowed):
            view = context.get("view")
            if view is not None:
                headers["Allow"] = ", ".join(view.allowed_methods)
        return Response(
            error_body(code or str(exc.default_code), str(message), extra),
            status=exc.status_code,
            headers=headers,
        )

    request = context.get("request")
    if isinstance(exc, (db.OperationalError, db.InterfaceError)):
        # PostgreSQL restarting, unreachable or our backend terminated: retryable, never a 500.
        logger.warning("database unavailable: %s", type(exc).__name__, extra={"path": getattr(request, "path", "?")})
        return Response(
            error_body("database_unavailable", "The database is unavailable; retry shortly.", {"retry_after": 2}),
            status=503,
            headers={"Retry-After": "2"},
        )
    logger.exception("unhandled error in API view", extra={"path": getattr(request, "path", "?")})
    return Response(error_body("internal_error", "Internal server error."), status=500)
