"""One Redis client per process for the things the Django cache API cannot do
(sorted sets, pub/sub, Lua). ``None`` in the embedded default."""

from __future__ import annotations

import functools

import redis as redis_lib
from django.conf import settings


@functools.lru_cache(maxsize=1)
def _client(url: str) -> redis_lib.Redis:
    timeout = settings.PREFLIGHT_TIMEOUT_SECONDS
    return redis_lib.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=30
    )


def redis_client() -> redis_lib.Redis:
    if not settings.REDIS_URL:
        raise RuntimeError("REDIS_URL is not set (embedded mode has no Redis)")
    return _client(settings.REDIS_URL)


def redis_available() -> bool:
    return bool(settings.REDIS_URL)
