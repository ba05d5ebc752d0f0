"""Trading knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ

# Taker fee, basis points of the executed notional, charged in USD to the `fees` account.
TRADING_FEE_BPS = env_decimal(ENV, "TRADING_FEE_BPS", "10")
# Slippage: spread/2 + impact * sqrt(notional / impact_ref_notional), capped (docs/trading.md).
TRADING_SPREAD_BPS = env_decimal(ENV, "TRADING_SPREAD_BPS", "2")
TRADING_IMPACT_BPS = env_decimal(ENV, "TRADING_IMPACT_BPS", "10")
TRADING_IMPACT_REF_NOTIONAL = env_decimal(ENV, "TRADING_IMPACT_REF_NOTIONAL", "100000")
TRADING_MAX_SLIPPAGE_BPS = env_decimal(ENV, "TRADING_MAX_SLIPPAGE_BPS", "200")
# Lot rules for SOL-USD.
TRADING_MIN_QTY = env_decimal(ENV, "TRADING_MIN_QTY", "0.001")
TRADING_QTY_STEP = env_decimal(ENV, "TRADING_QTY_STEP", "0.001")
TRADING_MIN_NOTIONAL = env_decimal(ENV, "TRADING_MIN_NOTIONAL", "1")
TRADING_MAX_NOTIONAL = env_decimal(ENV, "TRADING_MAX_NOTIONAL", "1000000")
