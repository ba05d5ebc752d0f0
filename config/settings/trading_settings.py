"""Trading knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ

# Taker fee, basis points of the executed notional, charged in USD to the `fees` account.
TRADING_FEE_BPS = env_decimal(ENV, "TRADING_FEE_BPS", "10")
# Maker fee: a resting limit order filled at its own price when the market came to it (bps).
TRADING_MAKER_FEE_BPS = env_decimal(ENV, "TRADING_MAKER_FEE_BPS", "2")
# Resting orders: at most this many open per user (422 too_many_open_orders), and a limit price at
# most this many percent away from the index (422 price_out_of_band).
TRADING_MAX_OPEN_ORDERS = env_int(ENV, "TRADING_MAX_OPEN_ORDERS", 200)
TRADING_PRICE_BAND_PCT = env_decimal(ENV, "TRADING_PRICE_BAND_PCT", "50")
# Trigger engine (docs/trading.md): crossed resting orders per durable transaction, and the lanes a
# tick of more than one batch splits into (trading.fill_resting_lane tasks; real stack only).
TRADING_TRIGGER_BATCH = env_int(ENV, "TRADING_TRIGGER_BATCH", 1000)
TRADING_TRIGGER_LANES = env_int(ENV, "TRADING_TRIGGER_LANES", 2)
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
# A command (order, position open/close) waits at most this long for its row locks (PostgreSQL
# lock_timeout, this transaction only), then answers 503 lock_timeout with nothing written.
TRADING_LOCK_TIMEOUT_MS = env_int(ENV, "TRADING_LOCK_TIMEOUT_MS", 3000)
# On PostgreSQL a market order fills in one call of a stored function (one round trip:
# trading/sql/fill_market_order_v1.sql); 0 takes the Python path SQLite always takes (same answers).
TRADING_FILL_IN_ONE_CALL = env_bool(ENV, "TRADING_FILL_IN_ONE_CALL", True)

# --- leveraged positions (every perp market, isolated margin; docs/positions.md) ---
# Each market's rules (max leverage, maintenance margin rate, lot, notional, price tick) are its
# registry row (pricing.Market, admin); the fee and the slippage model are global.
# Taker fee on the position notional (open and close), bps; defaults to the spot fee.
POSITION_FEE_BPS = env_decimal(ENV, "POSITION_FEE_BPS", str(TRADING_FEE_BPS))
# Seed routes: tolerance (percent) for /positions/close's currentPrice (open sends its own slippage).
POSITION_SEED_CLOSE_SLIPPAGE_PCT = env_decimal(ENV, "POSITION_SEED_CLOSE_SLIPPAGE_PCT", "1")
# Liquidation engine: positions per durable transaction, and the backstop sweep period (seconds).
POSITION_LIQUIDATION_BATCH = env_int(ENV, "POSITION_LIQUIDATION_BATCH", 1000)
POSITION_SWEEP_SECONDS = env_int(ENV, "POSITION_SWEEP_SECONDS", 5)
# TP/SL engine: positions closed per durable transaction (trading.services.tpsl_batch).
POSITION_TPSL_BATCH = env_int(ENV, "POSITION_TPSL_BATCH", 500)
# A tick with more candidates than one batch is split into up to this many lanes that share no
# locked row; the first runs in the tick's task, the others as trading.liquidate_lane tasks on
# other worker processes (real stack only). Match the worker processes (CELERY_CONCURRENCY).
POSITION_LIQUIDATION_LANES = env_int(ENV, "POSITION_LIQUIDATION_LANES", 2)
# In the real stack the tick receiver enqueues trading.liquidate_on_tick; set 0 to run it inline.
POSITION_ENGINE_ASYNC = env_bool(ENV, "POSITION_ENGINE_ASYNC", True)

# Perp funding (docs/positions.md, "Funding"): beat looks for due funding times every
# FUNDING_SETTLE_SECONDS; a time settled more than FUNDING_LATE_GRACE_SECONDS after it is marked
# late. FUNDING_CATCHUP_INTERVALS: how many missed times before the latest are still settled (late,
# oldest first); any older ones are recorded as skipped.
FUNDING_SETTLE_SECONDS = env_int(ENV, "FUNDING_SETTLE_SECONDS", 30)
FUNDING_LATE_GRACE_SECONDS = env_int(ENV, "FUNDING_LATE_GRACE_SECONDS", 120)
FUNDING_CATCHUP_INTERVALS = env_int(ENV, "FUNDING_CATCHUP_INTERVALS", 48)

TRADING_BEAT = {
    "trading-funding-settle": {
        "task": "trading.funding_settle_due",
        "schedule": FUNDING_SETTLE_SECONDS,
        "options": {"expires": FUNDING_SETTLE_SECONDS},
    },
    "trading-liquidation-sweep": {
        "task": "trading.liquidation_sweep",
        "schedule": POSITION_SWEEP_SECONDS,
        "options": {"expires": POSITION_SWEEP_SECONDS},
    },
}
