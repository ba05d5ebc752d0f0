"""The offline generators behind ``PRICE_MODE=replay`` and ``synthetic``, one observation per token.

* Replay plays the OHLC tape (``PRICE_REPLAY_CSV``) for one index (``PRICE_REPLAY_SYMBOL``,
  SOL-USD); every other token walks (its records are marked ``synthetic``).
* The synthetic walk runs per token with the token's own ``synthetic_start`` / ``synthetic_volatility``
  / ``synthetic_seed`` (registry rows); its state (step, price) lives in the cache per index.
  ``PRICE_SYNTHETIC_SEED`` / ``_START`` / ``_VOLATILITY``, when set, override SOL-USD's row only
  (how a demo pins SOL's path without touching the registry).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from pricing.markets import TokenSpec
from pricing.offline import Tape, load_ohlc_csv, spread_around, synthetic_next
from pricing.selectors import DEFAULT_INDEX
from pricing.sources import Observation

REPLAY_ORIGIN_KEY = "pricing:replay:origin"
SYNTHETIC_STATE_KEY = "pricing:synthetic:state:{symbol}"


@dataclass(frozen=True)
class WalkParams:
    start: Decimal
    volatility: Decimal
    seed: str


def walk_params(token: TokenSpec) -> WalkParams:
    """The token's walk: its registry row, or for SOL-USD the env overrides that are set."""
    params = WalkParams(token.synthetic_start, token.synthetic_volatility, token.synthetic_seed)
    if token.index_symbol != DEFAULT_INDEX:
        return params
    return WalkParams(
        start=settings.PRICE_SYNTHETIC_START or params.start,
        volatility=settings.PRICE_SYNTHETIC_VOLATILITY or params.volatility,
        seed=settings.PRICE_SYNTHETIC_SEED or params.seed,
    )


def offline_mode_of(index_symbol: str, mode: str) -> str:
    """The mode of one index's records under the running offline ``mode``."""
    return "replay" if mode == "replay" and index_symbol == settings.PRICE_REPLAY_SYMBOL else "synthetic"


@functools.lru_cache(maxsize=2)
def _tape(path: str, mtime_ns: int) -> Tape:
    return Tape(load_ohlc_csv(path))


def replay_tape() -> Tape:
    path = str(Path(settings.PRICE_REPLAY_CSV))
    return _tape(path, os.stat(path).st_mtime_ns)


def replay_observation(*, now: datetime) -> Observation:
    """The tape price at ``now``: the first cycle pins the wall-clock origin in the cache."""
    tape = replay_tape()
    cache.add(REPLAY_ORIGIN_KEY, now.isoformat(), timeout=None)
    origin = datetime.fromisoformat(cache.get(REPLAY_ORIGIN_KEY) or now.isoformat())
    elapsed_us = max(0, (now - origin) // timedelta(microseconds=1))
    t = tape.replay_time(
        elapsed_microseconds=elapsed_us, speed=settings.PRICE_REPLAY_SPEED, start=settings.PRICE_REPLAY_START or None
    )
    price = tape.price_at(t)
    bid, ask = spread_around(price, settings.PRICE_OFFLINE_SPREAD_BPS)
    return Observation(
        source=f"replay:{Path(settings.PRICE_REPLAY_CSV).name}"[:64], price=price, bid=bid, ask=ask, received_at=now
    )


def synthetic_observation(*, token: TokenSpec, now: datetime) -> Observation:
    """The next step of the token's seeded walk (state per index in the cache)."""
    params = walk_params(token)
    key = SYNTHETIC_STATE_KEY.format(symbol=token.index_symbol)
    state = cache.get(key) or {"step": 0, "price": str(params.start)}
    step = state["step"] + 1
    price = synthetic_next(price=Decimal(state["price"]), step=step, seed=params.seed, volatility=params.volatility)
    cache.set(key, {"step": step, "price": str(price)}, timeout=None)
    bid, ask = spread_around(price, settings.PRICE_OFFLINE_SPREAD_BPS)
    return Observation(source=f"synthetic:seed={params.seed}"[:64], price=price, bid=bid, ask=ask, received_at=now)


def offline_observation(*, token: TokenSpec, mode: str, now: datetime) -> Observation:
    if offline_mode_of(token.index_symbol, mode) == "replay":
        return replay_observation(now=now)
    return synthetic_observation(token=token, now=now)
