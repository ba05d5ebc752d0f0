"""Trading knobs, read from the environment; every variable is in .env.example."""

from __future__ import annotations

import os

from config.env import env_bool, env_decimal, env_int, env_list  # noqa: F401

ENV = os.environ
