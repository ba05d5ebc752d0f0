"""Auth knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import ConfigError, env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ


def _rate(name: str, default: str) -> tuple[int, int]:
    """``"LIMIT/SECONDS"`` -> (limit, seconds)."""
    raw = (ENV.get(name) or default).strip()
    try:
        limit, seconds = (int(part) for part in raw.split("/"))
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not LIMIT/SECONDS (e.g. 30/60)") from exc
    if limit < 1 or seconds < 1:
        raise ConfigError(f"{name}={raw!r}: limit and seconds must be positive")
    return limit, seconds


# Sign-In With Solana. Empty domain/uri = the request's Host (validated by ALLOWED_HOSTS)
# and scheme; set them in production behind a proxy (e.g. exchange.example.com, https://exchange.example.com).
SIWS_DOMAIN = ENV.get("SIWS_DOMAIN", "").strip()
SIWS_URI = ENV.get("SIWS_URI", "").strip()
SIWS_STATEMENT = ENV.get(
    "SIWS_STATEMENT",
    "Sign in to the SOL paper-trading exchange. "
    "This request will not trigger a blockchain transaction or cost any fees.",
).strip()
SIWS_CHAIN_ID = ENV.get("SIWS_CHAIN_ID", "mainnet").strip()
SIWS_NONCE_TTL_SECONDS = env_int(ENV, "SIWS_NONCE_TTL_SECONDS", 300)
SIWS_CLOCK_SKEW_SECONDS = env_int(ENV, "SIWS_CLOCK_SKEW_SECONDS", 600)

# Sessions and API keys.
AUTH_SESSION_TTL_SECONDS = env_int(ENV, "AUTH_SESSION_TTL_SECONDS", 7 * 24 * 3600)
AUTH_MAX_API_KEYS_PER_USER = env_int(ENV, "AUTH_MAX_API_KEYS_PER_USER", 10)

# Rate limits (fixed windows in the cache: Redis in the real stack, local memory embedded).
# Per IP: every nonce request and every verify attempt. Per address: only sign-ins the signature
# proved (fresh nonce), so nobody can use up another wallet's quota (docs/auth.md, "Rate limits").
AUTH_RATE_NONCE_IP = _rate("AUTH_RATE_NONCE_IP", "30/60")
AUTH_RATE_VERIFY_IP = _rate("AUTH_RATE_VERIFY_IP", "30/60")
AUTH_RATE_VERIFY_ADDRESS = _rate("AUTH_RATE_VERIFY_ADDRESS", "10/60")
# Alpaca-compatible /v2 (docs/alpaca.md): requests per API key per window, counted before any
# work (Alpaca's own limit is 200 a minute); over it 429 {"code": 42910000} with Retry-After.
ALPACA_RATE_LIMIT = _rate("ALPACA_RATE_LIMIT", "200/60")
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted
# (0 = ignore X-Forwarded-For and use the socket address).
AUTH_TRUSTED_PROXY_COUNT = env_int(ENV, "AUTH_TRUSTED_PROXY_COUNT", 0)
