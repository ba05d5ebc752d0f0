"""Per-process fan-out of broadcast groups (public prices) to local sockets.

Channels' usual pattern (every consumer joins the group) costs one queue put,
one decode and one consumer dispatch per socket per tick. Here each server
process joins ``prices.SOL-USD`` once, decodes each tick once, and hands the
pre-serialised text to every local socket that wants it. Scale-out is
unchanged: every process has its own subscription through the Redis layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger("realtime.fanout")


class Member(Protocol):
    async def on_broadcast(self, group: str, payload: dict, text: str) -> None: ...


class LocalFanout:
    def __init__(self, group: str) -> None:
        self.group = group
        self.members: set[Member] = set()
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def add(self, member: Member) -> None:
        self.members.add(member)
        if self.task is None or self.task.done():
            self.ready.clear()
            self.task = asyncio.ensure_future(self._run())
        await self.ready.wait()

    def discard(self, member: Member) -> None:
        self.members.discard(member)

    async def _run(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                if layer is None:
                    raise RuntimeError("no channel layer is configured")
                # Every configured layer (in-memory, channels-redis core and pub/sub) takes a prefix;
                # the stub of the abstract BaseChannelLayer.new_channel does not.
                channel = await layer.new_channel("fanout.")  # type: ignore[call-arg]
                await layer.group_add(self.group, channel)
                self.ready.set()
                while True:
                    message = await layer.receive(channel)
                    payload = message.get("event") or {}
                    text = message.get("text") or json.dumps(payload, separators=(",", ":"))
                    for member in list(self.members):
                        try:
                            await member.on_broadcast(self.group, payload, text)
                        except Exception:
                            logger.warning("fan-out to a socket failed", exc_info=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("fan-out of %s lost its subscription; resubscribing", self.group, exc_info=True)
                await asyncio.sleep(1)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, LocalFanout]] = weakref.WeakKeyDictionary()


def fanout_for(group: str) -> LocalFanout:
    """The process's (event loop's) fan-out for ``group``."""
    loop = asyncio.get_running_loop()
    hubs = _hubs.setdefault(loop, {})
    if group not in hubs:
        hubs[group] = LocalFanout(group)
    return hubs[group]
