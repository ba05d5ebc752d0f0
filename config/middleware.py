"""Request id: taken from a sane ``X-Request-ID`` header or generated, echoed back.
Database errors outside DRF views: 503 ``database_unavailable``, never a 500."""

from __future__ import annotations

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django import db
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
    (``config.errors.api_exception_handler``) instead of a 500 (tests/proof/test_faults_infra.py)."""

    def process_exception(self, request, exception):
        if isinstance(exception, (db.OperationalError, db.InterfaceError)):
            from config.errors import database_unavailable

            return database_unavailable(request)
        return None
