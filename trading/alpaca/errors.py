"""Alpaca's error bodies, ``{"code": <int>, "message": <str>}``, for everything under ``/v2``.

``alpaca_exception_handler`` is the ``/v2`` views' DRF exception handler: our domain errors keep
their meaning but take Alpaca's status, code and wording (bots search these strings: "insufficient
balance for USD (requested: …, available: …)", "client_order_id must be unique", "order is not
found."). ``alpaca_error_shape`` does the same for an answer Django produced outside a view (an
unknown path, a crash), so no HTML page and no ``{"detail"}`` ever leaves ``/v2``.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django import db
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exc
from rest_framework.response import Response

from core.errors import TOO_LARGE, DomainError

logger = logging.getLogger("config.errors")

VALIDATION = 40010001
UNIQUE_CLIENT_ORDER_ID = "client_order_id must be unique"


class AlpacaError(Exception):
    """An error already in Alpaca's terms."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def invalid(message: str) -> AlpacaError:
    """422 40010001: a field Alpaca would refuse (``invalid qty``, ``invalid time_in_force``…)."""
    return AlpacaError(422, VALIDATION, message)


def default_code(status: int) -> int:
    """Alpaca's codes are the status followed by ``10000`` (422 -> 42210000)."""
    return status * 100000 + 10000


def _plain(value: Any) -> str:
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


def _insufficient(exc: DomainError) -> AlpacaError:
    extra = exc.extra
    requested, available = _plain(extra.get("required")), _plain(extra.get("available"))
    message = f"insufficient balance for {extra.get('asset', 'USD')} (requested: {requested}, available: {available})"
    return AlpacaError(403, 40310000, message)


def _final(exc: DomainError) -> AlpacaError:
    return AlpacaError(422, 42210000, f'order is already in "{exc.extra.get("status", "filled")}" state')


_BY_CODE: dict[str, Any] = {
    "insufficient_funds": _insufficient,
    "idempotency_key_reused": lambda exc: invalid(UNIQUE_CLIENT_ORDER_ID),
    "idempotency_key_mismatch": lambda exc: invalid(UNIQUE_CLIENT_ORDER_ID),
    "not_found": lambda exc: AlpacaError(404, 40410000, "order is not found."),
    "asset_not_found": lambda exc: AlpacaError(404, 40410000, "asset not found"),
    "position_not_found": lambda exc: AlpacaError(404, 40410000, "position does not exist"),
    "not_cancelable": _final,
    "not_replaceable": _final,
    "market_halted": lambda exc: AlpacaError(403, 40310000, "asset is not tradable"),
    "scope_missing": lambda exc: AlpacaError(403, 40310000, "forbidden: this API key lacks the trade scope"),
    "account_disabled": lambda exc: AlpacaError(403, 40310000, "account is not active"),
}


def _from_domain(exc: DomainError) -> AlpacaError:
    mapped = _BY_CODE.get(exc.code)
    if mapped is not None:
        return mapped(exc)
    status = exc.status
    message = "rate limit exceeded" if status == 429 else exc.message
    if status == 422:
        return AlpacaError(422, VALIDATION if exc.code.endswith("_required") else 42210000, message, exc.headers)
    return AlpacaError(status, default_code(status), message, exc.headers)


def _validation_message(detail: Any) -> str:
    while isinstance(detail, (list, dict)) and detail:
        if isinstance(detail, dict):
            field, detail = next(iter(detail.items()))
            if not isinstance(detail, (list, dict)):
                return f"{field}: {detail}"
        else:
            detail = detail[0]
    return str(detail) or "invalid request"


def to_alpaca(exc: Exception) -> AlpacaError | None:
    """``exc`` in Alpaca's terms; ``None`` for an unexpected error (a 500)."""
    if isinstance(exc, AlpacaError):
        return exc
    if isinstance(exc, TOO_LARGE):
        return AlpacaError(413, 41310000, "request body is too large")
    if isinstance(exc, DomainError):
        return _from_domain(exc)
    if isinstance(exc, Http404 | drf_exc.NotFound):
        return AlpacaError(404, 40410000, "resource not found")
    if isinstance(exc, drf_exc.NotAuthenticated | drf_exc.AuthenticationFailed):
        return AlpacaError(401, 40110000, "request is not authorized")
    if isinstance(exc, DjangoPermissionDenied | drf_exc.PermissionDenied):
        return AlpacaError(403, 40310000, "forbidden")
    if isinstance(exc, drf_exc.ParseError | drf_exc.UnsupportedMediaType):
        return AlpacaError(400, 40010000, "request body format is invalid")
    if isinstance(exc, drf_exc.ValidationError):
        return invalid(_validation_message(exc.detail))
    if isinstance(exc, drf_exc.MethodNotAllowed):
        return AlpacaError(405, 40510000, "method not allowed")
    if isinstance(exc, drf_exc.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        return AlpacaError(429, 42910000, "rate limit exceeded", {"Retry-After": str(max(wait, 1))})
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        return AlpacaError(503, 50310000, "service unavailable; retry shortly", {"Retry-After": "2"})
    if isinstance(exc, drf_exc.APIException):
        return AlpacaError(exc.status_code, default_code(exc.status_code), str(exc.default_detail))
    return None


def alpaca_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def alpaca_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    error = to_alpaca(exc)
    if error is None:
        request = context.get("request")
        logger.exception("unhandled error in /v2 view", extra={"path": getattr(request, "path", "?")})
        error = AlpacaError(500, 50010000, "internal server error")
    return Response(alpaca_body(error.code, error.message), status=error.status, headers=error.headers)


def _is_alpaca_body(response: HttpResponse) -> bool:
    if response.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return False
    try:
        body = json.loads(response.content)
    except (ValueError, AttributeError):
        return False
    return isinstance(body, dict) and isinstance(body.get("code"), int) and isinstance(body.get("message"), str)


def alpaca_error_shape(response: HttpResponse) -> HttpResponse:
    """A ``/v2`` error answer not in Alpaca's shape (Django's 404/500, an HTML page) becomes one."""
    if response.status_code < 400 or getattr(response, "streaming", False) or _is_alpaca_body(response):
        return response
    status = response.status_code
    messages = {
        401: "request is not authorized",
        404: "endpoint not found",
        405: "method not allowed",
        413: "request body is too large",
        429: "rate limit exceeded",
        503: "service unavailable; retry shortly",
    }
    message = messages.get(status, "internal server error" if status >= 500 else "bad request")
    shaped = JsonResponse(alpaca_body(default_code(status), message), status=status)
    for header in ("Allow", "Retry-After"):
        if header in response:
            shaped[header] = response[header]
    return shaped


@csrf_exempt
def not_found_view(request, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other ``/v2`` path: Alpaca's 404 body (and never an ``APPEND_SLASH`` redirect)."""
    return JsonResponse(alpaca_body(40410000, "endpoint not found"), status=404)
