"""Pricing knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ

# Staleness budget: the latest price is kept in Redis with this TTL, so a
# missing record means stale; readiness and trading use the same budget.
PRICE_STALE_SECONDS = env_int(ENV, "PRICE_STALE_SECONDS", 15)
