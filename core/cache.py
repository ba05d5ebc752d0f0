"""One Redis connection pool per process for the Django cache.

Django builds a cache client per thread (per async context), and under ASGI every
request's sync code runs in a fresh thread, so the stock client opened a new Redis
connection per request. ``SharedBlockingConnectionPool.from_url`` hands every client
the same thread-safe pool for the same URL and options (a new one after a fork).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis


class SharedBlockingConnectionPool(redis.BlockingConnectionPool):
    _shared: dict[tuple[object, ...], SharedBlockingConnectionPool] = {}
    _guard = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedBlockingConnectionPool:
        key = (os.getpid(), url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._guard:
            pool = cls._shared.get(key)
            if pool is None:
                pool = super().from_url(url, **kwargs)
                cls._shared[key] = pool
            return pool
