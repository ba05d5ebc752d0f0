"""Liveness (``/healthz``) and readiness (``/readyz``) probes.

Readiness reports each dependency with ``ok`` and a reason; the response is 503
when any is not ready, so a load balancer stops routing to this process.

The probe is public: a failed check shows a stable code (``database_unavailable``,
``redis_unavailable``, ``price_read_failed``, ``beat_read_failed``), never the exception's text
(a driver's message names hosts, ports, users and paths); the details go to the log.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone

from django.conf import settings
from django.db import connections
from django.http import JsonResponse

from config import heartbeat
from core.errors import error_body
from core.timefmt import iso_utc

logger = logging.getLogger("config.health")


def _failed(check: str, code: str, exc: Exception) -> str:
    """Log what went wrong (type and first line, no traceback: probes run every few seconds)."""
    detail = str(exc).split("\n")[0][:300]
    logger.warning("readyz: %s check failed: %s: %s", check, type(exc).__name__, detail)
    return code


def _database() -> dict:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "engine": settings.STACK.database.engine}
    except Exception as exc:
        return {
            "ok": False,
            "engine": settings.STACK.database.engine,
            "error": _failed("database", "database_unavailable", exc),
        }


def _redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "configured": False}
    from core.redis import redis_client

    try:
        redis_client().ping()
        return {"ok": True, "configured": True}
    except Exception as exc:
        return {"ok": False, "configured": True, "error": _failed("redis", "redis_unavailable", exc)}


def _price(now: datetime) -> dict:
    from pricing.selectors import price_latest_age_seconds

    try:
        age = price_latest_age_seconds(now=now)
    except Exception as exc:
        return {"ok": False, "age_seconds": None, "error": _failed("price", "price_read_failed", exc)}
    budget = settings.PRICE_STALE_SECONDS
    if age is None:
        return {"ok": False, "age_seconds": None, "budget_seconds": budget, "error": "no price yet"}
    return {"ok": age <= budget, "age_seconds": round(age, 3), "budget_seconds": budget}


def _beat(now: datetime) -> dict:
    try:
        last = heartbeat.beat_last_run()
    except Exception as exc:
        return {"ok": False, "last_run": None, "error": _failed("beat", "beat_read_failed", exc)}
    limit = settings.BEAT_STALE_SECONDS
    if last is None:
        return {"ok": False, "last_run": None, "error": "scheduler has not run yet"}
    age = (now - last).total_seconds()
    return {
        "ok": age <= limit,
        "last_run": iso_utc(last),
        "age_seconds": round(age, 3),
        "runner": "in-process" if settings.INPROCESS_JOBS else "celery-beat",
    }


def get_only(view):
    """Like ``require_GET`` but answers 405 in the API's error shape."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
            response = JsonResponse(body, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


@get_only
def healthz(request):
    return JsonResponse({"status": "ok"})


@get_only
def readyz(request):
    now = datetime.now(timezone.utc)
    checks = {"database": _database(), "redis": _redis(), "price": _price(now), "beat": _beat(now)}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "not_ready", "mode": settings.STACK_MODE, "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)
