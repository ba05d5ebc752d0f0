"""Sync views served on a small pool of long-lived database threads under ASGI.

Under ASGI, Django runs every request's sync view in a new thread (``ThreadSensitiveContext``),
and database connections are per thread: each request paid for a fresh PostgreSQL connection
(~7 ms, a backend fork) and the dead thread's connection lingered until garbage collection, so
32 order clients ran the server out of connections. A view wrapped with ``on_db_threads`` runs
on ``DB_THREADS`` long-lived threads instead, each keeping its connection (``CONN_MAX_AGE``),
with Django's per-request connection hygiene around every call. (App-wide fix: psycopg's
connection pool, ``OPTIONS["pool"]``, Django >= 5.1 -- see docs/trading.md, "Benchmark".)

A threaded WSGI server (gunicorn's gthread workers in the real stack) already runs every request
on a long-lived thread that keeps its connection: its workers call ``serve_on_request_threads``
before the app loads (``config/gunicorn_conf.py``), and wrapped views stay plain sync views there,
with no async hand-off at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest

DB_THREADS = 8  # per process: at most this many wrapped requests in flight, and connections held
_db_threads = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="db-view")
_request_threads = False  # True in a threaded WSGI worker: views run in the request's own thread


def serve_on_request_threads() -> None:
    """Mark this process as a threaded WSGI worker; call it before the URLconf is imported."""
    global _request_threads
    _request_threads = True


def _with_connection_hygiene(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    close_old_connections()  # what request_started does: drop a broken or expired connection
    try:
        return view(request, *args, **kwargs)
    finally:
        close_old_connections()  # what request_finished does


def on_db_threads(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve ``view`` (a sync view) on the pool's threads when Django runs under ASGI.

    In a threaded WSGI worker it is returned as it is. Anything else (the test client) calls it
    in the request's thread as before, so a test's transaction stays visible to the view.
    """
    if _request_threads:
        return view

    async def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if isinstance(request, ASGIRequest):
            run = sync_to_async(_with_connection_hygiene, thread_sensitive=False, executor=_db_threads)
            return await run(view, request, *args, **kwargs)
        return await sync_to_async(view, thread_sensitive=True)(request, *args, **kwargs)

    functools.update_wrapper(handler, view)  # keeps csrf_exempt, view_class, cls, initkwargs
    return markcoroutinefunction(handler)
