"""How long a socket took from connect to its first ``subscribed``: logged once as a warning past
``WS_SLOW_SUBSCRIBE_MS``, with the handshake's, the client's and the subscribe's share."""

from __future__ import annotations

import logging
import time

from django.conf import settings

logger = logging.getLogger("realtime.consumers")


class SubscribeTiming:
    def __init__(self) -> None:
        self.connect_started = time.monotonic()
        self.connect_seconds: float | None = None  # the handshake's, until the first subscribe is logged

    def connected(self) -> None:
        self.connect_seconds = time.monotonic() - self.connect_started

    def subscribed(self, started: float, names: list[str]) -> None:
        """The socket's first ``subscribed`` left now (its subscribe frame began at ``started``)."""
        if self.connect_seconds is None:
            return
        now = time.monotonic()
        total = now - self.connect_started
        if total * 1000 >= settings.WS_SLOW_SUBSCRIBE_MS:
            logger.warning(
                "slow subscribe: %.2f s from connect to subscribed (handshake %.2f s, client's subscribe "
                "%.2f s later, subscribe %.2f s; channels %s)",
                total, self.connect_seconds, started - self.connect_started - self.connect_seconds,
                now - started, ",".join(names),
            )  # fmt: skip
        self.connect_seconds = None
