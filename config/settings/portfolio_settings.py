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
# Equity snapshots (portfolio history) and the leaderboard's full rebuild, seconds.
PORTFOLIO_SNAPSHOT_SECONDS = env_int(ENV, "PORTFOLIO_SNAPSHOT_SECONDS", 60)
LEADERBOARD_REFRESH_SECONDS = env_int(ENV, "LEADERBOARD_REFRESH_SECONDS", 30)
# Between rebuilds, the rows of the accounts whose ledger changed are rewritten every this many
# seconds (portfolio/leaderboard_changes.py): how stale the board may be after a fill. At most
# this many accounts per run (the rest in the next).
LEADERBOARD_UPDATE_SECONDS = env_int(ENV, "LEADERBOARD_UPDATE_SECONDS", 2)
LEADERBOARD_UPDATE_MAX_ACCOUNTS = env_int(ENV, "LEADERBOARD_UPDATE_MAX_ACCOUNTS", 2000)
LEADERBOARD_SIZE = env_int(ENV, "LEADERBOARD_SIZE", 100)

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
    "portfolio-leaderboard-update": {
        "task": "portfolio.leaderboard_update_changed",
        "schedule": LEADERBOARD_UPDATE_SECONDS,
        "options": {"expires": LEADERBOARD_UPDATE_SECONDS},
    },
}
