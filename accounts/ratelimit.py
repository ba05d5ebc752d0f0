"""Fixed-window rate limits in the Django cache (Redis in the real stack, local memory embedded).

``cache.add`` + ``cache.incr`` are atomic on Redis and under locmem's lock. The window index is
part of the key and the key lives two windows, so a counter never expires while it is in use.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache

from accounts.errors import RateLimited


def client_ip(request) -> str | None:
    """The caller's IP: the socket address, or the X-Forwarded-For entry the Nth trusted proxy saw.

    With ``AUTH_TRUSTED_PROXY_COUNT = 0`` (default) X-Forwarded-For is ignored, so a client cannot
    pick its own quota by forging the header. ``None`` when the server has no socket address
    (a Unix socket): the services then rate-limit it as ``"unknown"`` and store no IP.
    """
    try:
        remote: str | None = str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        remote = None
    proxies = settings.AUTH_TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return remote
    return remote


def rate_limit_hit(*, scope: str, ident: str, rate: tuple[int, int], now: float | None = None) -> None:
    """Count one request for (scope, ident); raise ``RateLimited`` (429 + Retry-After) over the limit."""
    limit, window = rate
    now = time.time() if now is None else now
    index = int(now // window)
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"auth:rl:{scope}:{digest}:{index}"
    cache.add(key, 0, timeout=2 * window)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start again
        cache.add(key, 0, timeout=2 * window)
        count = cache.incr(key)
    if count > limit:
        retry_after = max(1, int((index + 1) * window - now + 0.999))
        raise RateLimited(retry_after=retry_after, scope=scope)
