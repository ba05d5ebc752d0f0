"""Django's error handlers for requests that never reach a DRF view (unknown URLs, CSRF on plain
views, crashes, oversized bodies, a lost database): the same ``{"code", "message", "extra"}`` shape
as the API (``core.errors``), or the HTML error page for a browser. Wired in ``config/urls.py``
and ``config/settings``; ``config.middleware.ApiErrorShapeMiddleware`` keeps every ``/api/``
error in this shape under ``DEBUG`` too, where Django answers with its technical pages.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

from core.errors import TOO_LARGE, error_body, payload_too_large_error

logger = logging.getLogger("config.errors")


def _wants_json(request: HttpRequest) -> bool:
    """JSON for the API, for a client that accepts JSON, and for one that sent JSON."""
    return (
        request.path.startswith("/api/")
        or "application/json" in request.headers.get("Accept", "")
        or getattr(request, "content_type", "") == "application/json"
    )


def _render(request: HttpRequest, status: int, code: str, message: str) -> Any:
    if _wants_json(request):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, "errors/error.html", {"status": status, "code": code, "message": message}, status=status)


def database_unavailable(request: HttpRequest):
    """503 ``database_unavailable`` + ``Retry-After`` for a request outside DRF (pages, admin, the
    session behind ``request.user``): what ``api_exception_handler`` answers for the API."""
    logger.warning("database unavailable (page)", extra={"path": request.path})
    if _wants_json(request):
        body = error_body("database_unavailable", "The database is unavailable; retry shortly.", {"retry_after": 2})
        response = JsonResponse(body, status=503)
    else:
        response = _render(request, 503, "database_unavailable", "The database is unavailable; retry shortly.")
    response["Retry-After"] = "2"
    return response


def payload_too_large(request: HttpRequest, exception: Exception):
    """413 ``payload_too_large`` for a request outside DRF (a page, the admin, a middleware reading the body)."""
    error = payload_too_large_error(exception)
    if _wants_json(request):
        return JsonResponse(error_body(error.code, error.message, error.extra), status=error.status)
    return _render(request, error.status, error.code, error.message)


def handler400(request: HttpRequest, exception: Exception | None = None):
    if isinstance(exception, TOO_LARGE):
        return payload_too_large(request, exception)
    return _render(request, 400, "bad_request", "Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None):
    return _render(request, 403, "permission_denied", "You do not have permission to do this.")


def handler404(request: HttpRequest, exception: Exception | None = None):
    return _render(request, 404, "not_found", "Not found.")


def handler500(request: HttpRequest):
    return _render(request, 500, "internal_error", "Internal server error.")


def csrf_failure(request: HttpRequest, reason: str = ""):
    return _render(request, 403, "csrf_failed", f"CSRF check failed: {reason}".strip())
