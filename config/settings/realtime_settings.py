"""Realtime knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ

# --- WebSocket limits and hygiene (realtime/consumers.py) ---
# Largest client frame accepted; bigger frames close the socket with 1009.
WS_MAX_FRAME_BYTES = env_int(ENV, "WS_MAX_FRAME_BYTES", 4096)
# Client message rate per connection: a token bucket (sustained per second, burst).
WS_RATE_PER_SECOND = env_int(ENV, "WS_RATE_PER_SECOND", 10)
WS_RATE_BURST = env_int(ENV, "WS_RATE_BURST", 20)
# Violations of the rate after which the socket is closed (1008).
WS_RATE_MAX_VIOLATIONS = env_int(ENV, "WS_RATE_MAX_VIOLATIONS", 20)
# Server heartbeat frame interval, and how long a silent client is kept.
WS_HEARTBEAT_SECONDS = env_int(ENV, "WS_HEARTBEAT_SECONDS", 20)
WS_IDLE_TIMEOUT_SECONDS = env_int(ENV, "WS_IDLE_TIMEOUT_SECONDS", 300)
# Price-driven portfolio updates per connection are coalesced to at most one per this many ms.
WS_PORTFOLIO_COALESCE_MS = env_int(ENV, "WS_PORTFOLIO_COALESCE_MS", 1000)
# Live sockets per user and per client IP, counted across processes in Redis (in-process when
# embedded); one over the cap is closed with 4008. 0 = no cap. The IP is read like the sign-in
# rate limits' (AUTH_TRUSTED_PROXY_COUNT).
WS_MAX_SOCKETS_PER_USER = env_int(ENV, "WS_MAX_SOCKETS_PER_USER", 10)
WS_MAX_SOCKETS_PER_IP = env_int(ENV, "WS_MAX_SOCKETS_PER_IP", 50)
# A socket's registry entry lives this long unless its process refreshes it (every third of it):
# a crashed process's sockets stop counting after at most this many seconds.
WS_SOCKET_TTL_SECONDS = env_int(ENV, "WS_SOCKET_TTL_SECONDS", 60)
# Price symbols one socket may name in a subscribe/unsubscribe frame (the default subscription,
# every listed market's index, is the server's own list and not counted against it).
WS_MAX_SYMBOLS_PER_SOCKET = env_int(ENV, "WS_MAX_SYMBOLS_PER_SOCKET", 50)
# A socket's first subscribe answered later than this after its connection began is logged as a
# warning, with the time of the handshake, of the client, and of the subscribe.
WS_SLOW_SUBSCRIBE_MS = env_int(ENV, "WS_SLOW_SUBSCRIBE_MS", 2000)
# Resume: at most this many missed events are replayed; older gaps are told to resync from REST.
WS_RESUME_MAX_EVENTS = env_int(ENV, "WS_RESUME_MAX_EVENTS", 500)
# User events are kept in PostgreSQL this long for resume, then pruned.
EVENT_RETENTION_HOURS = env_int(ENV, "EVENT_RETENTION_HOURS", 24)

REALTIME_BEAT = {
    "realtime-prune-events": {
        "task": "realtime.prune_events",
        "schedule": 600,
        "options": {"expires": 600},
    },
}
