"""In-process scheduler for the embedded default (no Redis, so no Celery beat).

It runs the same ``CELERY_BEAT_SCHEDULE`` entries as beat would, each in its own
daemon thread, calling the task body synchronously. One scheduler per process;
``start()`` is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger("config.scheduler")
_started = False
_lock = threading.Lock()
_stop = threading.Event()


def _interval(entry: dict) -> float:
    schedule = entry["schedule"]
    return float(schedule.total_seconds() if hasattr(schedule, "total_seconds") else schedule)


def _loop(name: str, task_name: str, every: float) -> None:
    from config.celery import app

    task = app.tasks[task_name]
    while not _stop.is_set():
        started = time.monotonic()
        try:
            task.run()
        except Exception:
            logger.exception("in-process job %s failed", name)
        finally:
            close_old_connections()
        _stop.wait(max(0.0, every - (time.monotonic() - started)))


def start() -> list[str]:
    """Start one thread per schedule entry; returns the entry names started."""
    global _started
    with _lock:
        if _started:
            return []
        _started = True
        _stop.clear()
    from config.celery import app

    app.loader.import_default_modules()
    names = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        thread = threading.Thread(
            target=_loop, args=(name, entry["task"], _interval(entry)), name=f"job:{name}", daemon=True
        )
        thread.start()
        names.append(name)
    logger.info("in-process scheduler running %d jobs: %s", len(names), ", ".join(names))
    _start_streams()
    return names


def _start_streams() -> None:
    """The stream service of the embedded default runs here too, on its own thread: its cache and
    channel layer are this process's (the real stack runs ``manage.py stream_prices`` instead)."""
    if settings.REDIS_URL:
        return
    from pricing.streams.runner import start_in_thread

    start_in_thread()


def stop() -> None:
    global _started
    _stop.set()
    with _lock:
        _started = False
