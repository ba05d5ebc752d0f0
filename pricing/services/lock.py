"""A non-blocking lock so ingest cycles never pile up (Redis lock, or the cache in embedded mode)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

INGEST_LOCK_KEY = "pricing:ingest:lock"


@contextlib.contextmanager
def ingest_lock() -> Iterator[bool]:
    """Yields True when this caller holds the lock, False when another cycle is running.

    The lock expires after ``PRICE_INGEST_LOCK_SECONDS`` so a killed worker cannot wedge it.
    """
    timeout = settings.PRICE_INGEST_LOCK_SECONDS
    if settings.REDIS_URL:
        from core.redis import redis_client

        lock = redis_client().lock(f"solpaper:{INGEST_LOCK_KEY}", timeout=timeout, blocking=False)
        acquired = lock.acquire(blocking=False)
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
                    lock.release()
        return
    token = uuid.uuid4().hex
    acquired = cache.add(INGEST_LOCK_KEY, token, timeout=timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(INGEST_LOCK_KEY) == token:
            cache.delete(INGEST_LOCK_KEY)
