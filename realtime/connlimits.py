"""How many sockets a user and a client IP hold, across every server process.

Real stack: one Redis sorted set per user and per IP (``<prefix>:ws:sockets:user:<id>``,
``…:ip:<addr>``), members the sockets' channel names, scores their expiry (Redis server time, ms).
A claim is one Lua script: drop expired members, refuse when a set is at its cap, else add the
socket to every set. Each process refreshes its own sockets' scores every third of
``WS_SOCKET_TTL_SECONDS`` (one script call per process, not one per socket), so the sockets of a
process that crashed stop counting within the TTL. Embedded mode (no Redis): an in-process count.

A Redis failure admits the socket (logged): the cap is a guard against abuse, not a reason to
refuse every client while Redis restarts.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger("realtime.connlimits")

CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, ttl = ARGV[1], tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, member)
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""

REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', now + ttl, ARGV[i + 1]) > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
end
return #KEYS
"""

REFRESH_BATCH = 500  # (key, member) pairs per script call


@dataclass(frozen=True)
class Cap:
    """One count a socket is held to: ``kind`` ``"user"`` or ``"ip"``."""

    kind: str
    ident: str
    limit: int

    @property
    def key(self) -> str:
        prefix = settings.CACHES["default"].get("KEY_PREFIX") or "solpaper"
        return f"{prefix}:ws:sockets:{self.kind}:{self.ident}"


def caps_for(*, user_id: int | None = None, ip: str | None = None) -> list[Cap]:
    """The caps that apply (a cap of 0 is off; an unknown IP is not capped, see docs/realtime.md)."""
    caps = []
    if ip and settings.WS_MAX_SOCKETS_PER_IP > 0:
        caps.append(Cap("ip", ip, settings.WS_MAX_SOCKETS_PER_IP))
    if user_id is not None and settings.WS_MAX_SOCKETS_PER_USER > 0:
        caps.append(Cap("user", str(user_id), settings.WS_MAX_SOCKETS_PER_USER))
    return caps


class SocketRegistry:
    """The process's (event loop's) view: which registry keys each local socket holds."""

    def __init__(self) -> None:
        self.held: dict[str, set[str]] = {}  # socket -> keys
        self.counts: dict[str, set[str]] = {}  # embedded mode: key -> sockets
        self.redis: Redis | None = None
        self.scripts: dict[str, AsyncScript] = {}
        self.refresher: asyncio.Task | None = None

    async def claim(self, member: str, caps: list[Cap]) -> Cap | None:
        """Count ``member`` under every cap and answer None, or answer the first cap it would
        exceed and count it under none."""
        if not caps:
            return None
        if not settings.REDIS_URL:
            return self._claim_here(member, caps)
        try:
            over = await self._script(CLAIM)(
                keys=[c.key for c in caps], args=[member, self._ttl_ms(), *(c.limit for c in caps)]
            )
        except Exception:
            logger.warning("socket registry unavailable; admitting the socket uncounted", exc_info=True)
            over = 0
        if over:
            return caps[int(over) - 1]
        self.held.setdefault(member, set()).update(c.key for c in caps)
        self._start_refresher()
        return None

    async def release(self, member: str) -> None:
        keys = self.held.pop(member, set())
        if not settings.REDIS_URL:
            for key in keys:
                sockets = self.counts.get(key)
                if sockets is not None:
                    sockets.discard(member)
                    if not sockets:
                        del self.counts[key]
            return
        if not keys:
            return
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, member)
                await pipe.execute()
        except Exception:
            logger.warning("socket registry release failed; the entry expires by itself", exc_info=True)

    def _claim_here(self, member: str, caps: list[Cap]) -> Cap | None:
        for cap in caps:
            sockets = self.counts.get(cap.key, set())
            if member not in sockets and len(sockets) >= cap.limit:
                return cap
        for cap in caps:
            self.counts.setdefault(cap.key, set()).add(member)
        self.held.setdefault(member, set()).update(c.key for c in caps)
        return None

    def _client(self) -> Redis:
        if self.redis is None:
            import redis.asyncio as aioredis

            if not settings.REDIS_URL:
                raise RuntimeError("the socket registry's Redis client needs REDIS_URL")
            timeout = settings.PREFLIGHT_TIMEOUT_SECONDS
            self.redis = aioredis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        return self.redis

    def _script(self, source: str) -> AsyncScript:
        if source not in self.scripts:
            self.scripts[source] = self._client().register_script(source)  # EVALSHA, EVAL on a miss
        return self.scripts[source]

    @staticmethod
    def _ttl_ms() -> int:
        return max(1, settings.WS_SOCKET_TTL_SECONDS) * 1000

    def _start_refresher(self) -> None:
        if self.refresher is None or self.refresher.done():
            self.refresher = asyncio.ensure_future(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1, settings.WS_SOCKET_TTL_SECONDS) / 3)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("socket registry refresh failed", exc_info=True)

    async def refresh(self) -> int:
        """Push every local socket's expiry forward (``ZADD XX``: an entry its socket already
        released is not brought back); answers how many entries were looked at."""
        pairs = [(key, member) for member, keys in list(self.held.items()) for key in keys]
        for start in range(0, len(pairs), REFRESH_BATCH):
            batch = pairs[start : start + REFRESH_BATCH]
            keys, members = [k for k, _ in batch], [m for _, m in batch]
            await self._script(REFRESH)(keys=keys, args=[self._ttl_ms(), *members])
        return len(pairs)


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SocketRegistry] = weakref.WeakKeyDictionary()


def socket_registry() -> SocketRegistry:
    """The registry of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    if loop not in _registries:
        _registries[loop] = SocketRegistry()
    return _registries[loop]
