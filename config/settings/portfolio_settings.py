"""Portfolio knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ

# Starting grant of every new account (and of every reset epoch).
PORTFOLIO_START_USD = env_decimal(ENV, "PORTFOLIO_START_USD", "10000")
PORTFOLIO_START_SOL = env_decimal(ENV, "PORTFOLIO_START_SOL", "0")
# System accounts (house, fees, grants, insurance) are split into this many balance rows
# so parallel fills of different users do not queue on one hot row.
LEDGER_SYSTEM_SHARDS = env_int(ENV, "LEDGER_SYSTEM_SHARDS", 16)
# Equity snapshots (portfolio history) and the leaderboard refresh, seconds.
PORTFOLIO_SNAPSHOT_SECONDS = env_int(ENV, "PORTFOLIO_SNAPSHOT_SECONDS", 60)
LEADERBOARD_REFRESH_SECONDS = env_int(ENV, "LEADERBOARD_REFRESH_SECONDS", 30)
LEADERBOARD_SIZE = env_int(ENV, "LEADERBOARD_SIZE", 100)
# A liquidation lane's leaderboard refresh waits this long (seconds) so it never competes with
# the tick's other lanes for a core.
LEADERBOARD_TOUCH_MANY_DELAY_SECONDS = env_int(ENV, "LEADERBOARD_TOUCH_MANY_DELAY_SECONDS", 2)

PORTFOLIO_BEAT = {
    "portfolio-equity-snapshots": {
        "task": "portfolio.equity_snapshot_take_all",
        "schedule": PORTFOLIO_SNAPSHOT_SECONDS,
        "options": {"expires": PORTFOLIO_SNAPSHOT_SECONDS},
    },
    "portfolio-leaderboard-refresh": {
        "task": "portfolio.leaderboard_refresh",
        "schedule": LEADERBOARD_REFRESH_SECONDS,
        "options": {"expires": LEADERBOARD_REFRESH_SECONDS},
    },
}
