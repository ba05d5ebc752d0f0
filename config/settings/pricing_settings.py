"""Pricing knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os
from pathlib import Path

from config.env import ConfigError, env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ
_REPO = Path(__file__).resolve().parent.parent.parent

# Staleness budget: the latest price is kept in Redis with this TTL, so a
# missing record means stale; readiness and trading use the same budget.
PRICE_STALE_SECONDS = env_int(ENV, "PRICE_STALE_SECONDS", 15)

# live (real sources, the default) | replay (OHLC CSV) | synthetic (seeded random walk).
# Offline modes are only ever chosen here, explicitly; every price record carries the mode.
PRICE_MODE = ENV.get("PRICE_MODE", "live").strip().lower() or "live"
if PRICE_MODE not in {"live", "replay", "synthetic"}:
    raise ConfigError(f"PRICE_MODE={PRICE_MODE!r} must be live, replay or synthetic")

# Live sources, enabled and ordered.
PRICE_SOURCES = env_list(ENV, "PRICE_SOURCES", "pyth,jupiter,backpack,coinbase,kraken,binance")
_KNOWN_SOURCES = {"pyth", "jupiter", "backpack", "coinbase", "kraken", "binance"}
if set(PRICE_SOURCES) - _KNOWN_SOURCES:
    raise ConfigError(f"PRICE_SOURCES has unknown names {sorted(set(PRICE_SOURCES) - _KNOWN_SOURCES)}")
PYTH_HERMES_URL = ENV.get("PYTH_HERMES_URL") or "https://hermes.pyth.network"
PYTH_API_KEY = ENV.get("PYTH_API_KEY", "")
JUPITER_API_KEY = ENV.get("JUPITER_API_KEY", "")
# The keyless lite host, or api.jup.ag when a key is configured.
JUPITER_PRICE_URL = ENV.get("JUPITER_PRICE_URL") or (
    "https://api.jup.ag" if JUPITER_API_KEY else "https://lite-api.jup.ag"
)
BACKPACK_API_URL = ENV.get("BACKPACK_API_URL") or "https://api.backpack.exchange"
COINBASE_API_URL = ENV.get("COINBASE_API_URL") or "https://api.exchange.coinbase.com"
KRAKEN_API_URL = ENV.get("KRAKEN_API_URL") or "https://api.kraken.com"
BINANCE_API_URL = ENV.get("BINANCE_API_URL") or "https://api.binance.com"
BINANCE_API_KEY = ENV.get("BINANCE_API_KEY", "")

# HTTP: explicit timeouts on every call; a 429/418 without Retry-After cools down this long.
PRICE_HTTP_CONNECT_TIMEOUT = env_decimal(ENV, "PRICE_HTTP_CONNECT_TIMEOUT", "2")
PRICE_HTTP_READ_TIMEOUT = env_decimal(ENV, "PRICE_HTTP_READ_TIMEOUT", "3")
PRICE_SOURCE_COOLDOWN_SECONDS = env_int(ENV, "PRICE_SOURCE_COOLDOWN_SECONDS", 30)
PRICE_SOURCE_MAX_COOLDOWN_SECONDS = env_int(ENV, "PRICE_SOURCE_MAX_COOLDOWN_SECONDS", 900)

# Aggregation thresholds (fractions: 0.02 = 2%).
PRICE_QUORUM = env_int(ENV, "PRICE_QUORUM", 2)
PRICE_OUTLIER_PCT = env_decimal(ENV, "PRICE_OUTLIER_PCT", "0.02")
PRICE_MAX_SPREAD_PCT = env_decimal(ENV, "PRICE_MAX_SPREAD_PCT", "0.01")
PRICE_MAX_CONF_RATIO = env_decimal(ENV, "PRICE_MAX_CONF_RATIO", "0.01")
PRICE_MAX_EMA_DEVIATION = env_decimal(ENV, "PRICE_MAX_EMA_DEVIATION", "0.02")
PRICE_SOURCE_MAX_AGE_SECONDS = env_int(ENV, "PRICE_SOURCE_MAX_AGE_SECONDS", 60)
PRICE_SOURCE_MAX_FUTURE_SECONDS = env_int(ENV, "PRICE_SOURCE_MAX_FUTURE_SECONDS", 5)
PRICE_STABLE_DEPEG_PCT = env_decimal(ENV, "PRICE_STABLE_DEPEG_PCT", "0.005")

# Scheduling: one ingest cycle every N seconds (beat entry expires after the same time),
# guarded by a lock that outlives a stuck cycle by at most PRICE_INGEST_LOCK_SECONDS.
PRICE_INGEST_INTERVAL_SECONDS = env_int(ENV, "PRICE_INGEST_INTERVAL_SECONDS", 2)
PRICE_INGEST_LOCK_SECONDS = env_int(ENV, "PRICE_INGEST_LOCK_SECONDS", 15)

# Streams (pricing.streams, ``manage.py stream_prices``): long-lived connections to the venues'
# WebSocket tickers and Pyth Hermes' SSE stream feeding the same aggregator as the pollers; a source
# whose stream is down is polled by the service meanwhile. PRICE_STREAMS=0: no stream service at all
# (the beat poller alone, as before). While the service runs (its heartbeat key fresh) the beat
# ingest steps aside.
PRICE_STREAMS = env_bool(ENV, "PRICE_STREAMS", True)
PRICE_STREAM_SOURCES = env_list(ENV, "PRICE_STREAM_SOURCES", "pyth,backpack,coinbase,kraken,binance")
if set(PRICE_STREAM_SOURCES) - (_KNOWN_SOURCES - {"jupiter"}):
    raise ConfigError(f"PRICE_STREAM_SOURCES has names without a stream: {sorted(set(PRICE_STREAM_SOURCES))}")
BACKPACK_WS_URL = ENV.get("BACKPACK_WS_URL") or "wss://ws.backpack.exchange"
COINBASE_WS_URL = ENV.get("COINBASE_WS_URL") or "wss://ws-feed.exchange.coinbase.com"
KRAKEN_WS_URL = ENV.get("KRAKEN_WS_URL") or "wss://ws.kraken.com/v2"
BINANCE_WS_URL = ENV.get("BINANCE_WS_URL") or "wss://stream.binance.com:9443/ws"
# Ticks at stream speed, bounded: an index change is accepted at most every PRICE_MIN_TICK_MS per
# index and only when the index moved, or every PRICE_TICK_HEARTBEAT_MS unchanged (a heartbeat).
PRICE_MIN_TICK_MS = env_int(ENV, "PRICE_MIN_TICK_MS", 250)
PRICE_TICK_HEARTBEAT_MS = env_int(ENV, "PRICE_TICK_HEARTBEAT_MS", 1000)
# Each connection: connect and subscribe timeouts, WebSocket ping interval (a pong missing for as
# long closes it), no message for PRICE_STREAM_STALE_SECONDS -> reconnect, reconnect delays
# growing from BACKOFF_BASE to BACKOFF_MAX seconds (full jitter), this many malformed frames in a
# row -> reconnect.
PRICE_STREAM_CONNECT_TIMEOUT = env_decimal(ENV, "PRICE_STREAM_CONNECT_TIMEOUT", "5")
PRICE_STREAM_SUBSCRIBE_TIMEOUT = env_decimal(ENV, "PRICE_STREAM_SUBSCRIBE_TIMEOUT", "5")
PRICE_STREAM_PING_SECONDS = env_decimal(ENV, "PRICE_STREAM_PING_SECONDS", "15")
PRICE_STREAM_STALE_SECONDS = env_decimal(ENV, "PRICE_STREAM_STALE_SECONDS", "20")
PRICE_STREAM_BACKOFF_BASE = env_decimal(ENV, "PRICE_STREAM_BACKOFF_BASE", "0.5")
PRICE_STREAM_BACKOFF_MAX = env_decimal(ENV, "PRICE_STREAM_BACKOFF_MAX", "30")
PRICE_STREAM_MAX_BAD_FRAMES = env_int(ENV, "PRICE_STREAM_MAX_BAD_FRAMES", 3)

# Offline modes.
PRICE_REPLAY_CSV = ENV.get("PRICE_REPLAY_CSV") or str(_REPO.parent / "shared" / "data" / "SOLUSDT_1h.csv")
PRICE_REPLAY_SPEED = env_decimal(ENV, "PRICE_REPLAY_SPEED", "60")  # 60 = one hour of tape per minute
PRICE_REPLAY_START = env_int(ENV, "PRICE_REPLAY_START", 0)  # unix seconds in the tape; 0 = its first bar
PRICE_REPLAY_SYMBOL = ENV.get("PRICE_REPLAY_SYMBOL") or "SOL-USD"  # the index the tape drives; others walk
# Synthetic walk: each token walks with its registry row (Token.synthetic_start/volatility/seed).
# These, when set, override SOL-USD's row only (unset = None = the row).
PRICE_SYNTHETIC_SEED = ENV.get("PRICE_SYNTHETIC_SEED") or None
PRICE_SYNTHETIC_START = env_decimal(ENV, "PRICE_SYNTHETIC_START", "0") or None
PRICE_SYNTHETIC_VOLATILITY = env_decimal(ENV, "PRICE_SYNTHETIC_VOLATILITY", "0") or None  # max move per tick
PRICE_OFFLINE_SPREAD_BPS = env_decimal(ENV, "PRICE_OFFLINE_SPREAD_BPS", "2")

# The market registry (pricing.markets) is cached per process this long; a change saved in the
# admin clears the saving process's copy at once, the others within this many seconds.
MARKET_REGISTRY_TTL_SECONDS = env_int(ENV, "MARKET_REGISTRY_TTL_SECONDS", 2)

# Candles: 1-minute rows kept this many days (pruned hourly).
PRICE_CANDLE_RETENTION_DAYS = env_int(ENV, "PRICE_CANDLE_RETENTION_DAYS", 90)

# Perps' funding (pricing.marks, trading's funding): a funding time every FUNDING_INTERVAL_HOURS
# (1, as Hyperliquid and Backpack; 8 for Binance style); the venues' rates are stated per this
# interval and the rate charged is clamped to +/- FUNDING_RATE_CAP.
FUNDING_INTERVAL_HOURS = env_int(ENV, "FUNDING_INTERVAL_HOURS", 1)
FUNDING_RATE_CAP = env_decimal(ENV, "FUNDING_RATE_CAP", "0.0005")

# Venues' perp market data (pricing.perp_sources): polled every PERP_POLL_INTERVAL_SECONDS in live
# mode, each venue's latest answer kept in Redis PERP_OBSERVATION_MAX_AGE_SECONDS (older ones
# never make a mark); a venue mark further than PRICE_MARK_MAX_DEVIATION_PCT from the index is
# dropped (a fraction: 0.02 = 2 %).
PERP_VENUES = env_list(ENV, "PERP_VENUES", "backpack,binance,hyperliquid")
_KNOWN_PERP_VENUES = {"backpack", "binance", "hyperliquid"}
if set(PERP_VENUES) - _KNOWN_PERP_VENUES:
    raise ConfigError(f"PERP_VENUES has unknown names {sorted(set(PERP_VENUES) - _KNOWN_PERP_VENUES)}")
BINANCE_FUTURES_API_URL = ENV.get("BINANCE_FUTURES_API_URL") or "https://fapi.binance.com"
HYPERLIQUID_API_URL = ENV.get("HYPERLIQUID_API_URL") or "https://api.hyperliquid.xyz"
PERP_POLL_INTERVAL_SECONDS = env_int(ENV, "PERP_POLL_INTERVAL_SECONDS", 5)
PERP_OBSERVATION_MAX_AGE_SECONDS = env_int(ENV, "PERP_OBSERVATION_MAX_AGE_SECONDS", 30)
# A venue's list of symbols with their own funding interval (Binance's fundingInfo: 4 h, 1 h where
# the rest are 8 h): fetched by the poll at most this often, again a minute after a failure.
PERP_INTERVALS_REFRESH_SECONDS = env_int(ENV, "PERP_INTERVALS_REFRESH_SECONDS", 3600)
PRICE_MARK_MAX_DEVIATION_PCT = env_decimal(ENV, "PRICE_MARK_MAX_DEVIATION_PCT", "0.02")

PRICING_BEAT = {
    "pricing-ingest": {
        "task": "pricing.ingest",
        "schedule": PRICE_INGEST_INTERVAL_SECONDS,
        "options": {"expires": PRICE_INGEST_INTERVAL_SECONDS},
    },
    "pricing-poll-venue-perps": {
        "task": "pricing.poll_venue_perps",
        "schedule": PERP_POLL_INTERVAL_SECONDS,
        "options": {"expires": PERP_POLL_INTERVAL_SECONDS},
    },
    "pricing-prune-candles": {
        "task": "pricing.prune_candles",
        "schedule": 3600,
        "options": {"expires": 600},
    },
}
