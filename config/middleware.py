"""Request id: taken from a sane ``X-Request-ID`` header or generated, echoed back.
Database errors outside DRF views: 503 ``database_unavailable``, never a 500.
Every ``/api/`` error in the ``{code, message, extra}`` shape, in every mode (``DEBUG`` too);
every ``/v2/`` error in Alpaca's ``{code, message}`` shape."""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django import db
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin

from config.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(request) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        rid = _request_id(request)
        request.request_id = rid
        # Not reset on the way out: Django logs the response (e.g. "Not Found")
        # after the middleware returns, and that line must carry the id too.
        # Every request sets its own id first, so none leaks into the next.
        request_id_var.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response

    async def __acall__(self, request):
        rid = _request_id(request)
        request.request_id = rid
        request_id_var.set(rid)
        response = await self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A view outside DRF (pages, admin) whose database is gone -- PostgreSQL stopped,
    restarting or our backend terminated, often first hit loading the session behind
    ``request.user`` -- answers 503 ``database_unavailable`` with ``Retry-After`` like the API
    (``core.errors.api_exception_handler``) instead of a 500 (tests/proof/test_faults_infra.py)."""

    def process_exception(self, request, exception):
        if isinstance(exception, (db.OperationalError, db.InterfaceError)):
            from config.errors import database_unavailable

            return database_unavailable(request)
        return None


# Codes for an error answer that Django produced itself (no handler ran): the same codes as
# config.errors uses for these statuses.
_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def _api_error_shape(request, response):
    """An ``/api/`` error answer that is not JSON (Django's technical 404/500 pages under DEBUG,
    which bypass ``handler404/500``; a plain ``HttpResponse`` error) becomes the JSON error shape.
    DRF's own responses are left to content negotiation (the browsable API asked for HTML)."""
    if response.status_code >= 400 and request.path.startswith("/v2/"):
        from trading.alpaca.errors import alpaca_error_shape

        return alpaca_error_shape(response)  # Alpaca's {"code": int, "message"} (docs/alpaca.md)
    if response.status_code < 400 or not request.path.startswith("/api/") or _is_json(response):
        return response
    from rest_framework.response import Response

    if isinstance(response, Response):
        return response
    from core.errors import error_body

    status = response.status_code
    code = _STATUS_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    try:
        message = HTTPStatus(status).phrase + "."
    except ValueError:
        message = "Error."
    shaped = JsonResponse(error_body(code, message), status=status)
    for header in _KEPT_HEADERS:
        if header in response:
            shaped[header] = response[header]
    return shaped


class ApiErrorShapeMiddleware:
    """Every ``/api/`` answer is the JSON error shape in every mode, and an oversized body is
    413 ``payload_too_large`` on any path (also under DEBUG, where Django renders a
    SuspiciousOperation as its technical page with status 400).

    Placed right after ``RequestIdMiddleware``: Django turns an exception into a response inside
    each middleware layer, so this one sees the final answer of everything below it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return _api_error_shape(request, self.get_response(request))

    async def __acall__(self, request):
        return _api_error_shape(request, await self.get_response(request))

    def process_exception(self, request, exception):
        from config.errors import payload_too_large
        from core.errors import TOO_LARGE

        if isinstance(exception, TOO_LARGE):
            return payload_too_large(request, exception)
        return None
