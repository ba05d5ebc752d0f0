"""Fail fast: prove the configured database and Redis answer before serving.

``python manage.py preflight`` (run by ``make run`` and by the containers) and
the ASGI/Celery entry points call ``require_backends()``: an unreachable
PostgreSQL or Redis stops the process within ``PREFLIGHT_TIMEOUT_SECONDS`` with
one line naming what failed, and a non-zero exit status.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_UNREACHABLE = 3


@dataclass(frozen=True)
class BackendProblem:
    what: str
    detail: str

    def line(self) -> str:
        return f"startup failed: {self.what} is unreachable: {self.detail}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def check_database() -> BackendProblem | None:
    from django.conf import settings
    from django.db import connections

    target = settings.STACK.database
    if target.engine == "sqlite3":
        Path(target.name).parent.mkdir(parents=True, exist_ok=True)
    conn = connections["default"]
    try:
        conn.ensure_connection()
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not usable"
        return BackendProblem(target.label, _short(exc))
    finally:
        conn.close()
    return None


def check_redis() -> BackendProblem | None:
    from django.conf import settings

    url = settings.REDIS_URL
    if not url:
        return None
    import redis

    timeout = settings.PREFLIGHT_TIMEOUT_SECONDS
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:
        return BackendProblem(f"Redis at {_redis_label(url)}", _short(exc))
    finally:
        client.close()
    return None


def _redis_label(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


def problems() -> list[BackendProblem]:
    return [p for p in (check_database(), check_redis()) if p is not None]


def require_backends() -> None:
    """Exit the process with one clear line if a configured backend is down."""
    found = problems()
    if found:
        sys.stderr.write(found[0].line() + "\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_UNREACHABLE)
