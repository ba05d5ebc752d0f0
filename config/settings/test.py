"""Tests: the real PostgreSQL and Redis on 127.0.0.1 unless the env says otherwise.

The test command exports DATABASE_URL / REDIS_URL before Django starts, so
``base`` already picked the real stack; these defaults cover a bare
``pytest`` run in a shell that did not.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from config.settings.dev import *  # noqa: E402,F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INPROCESS_JOBS = False
PREFLIGHT_ON_START = False  # pytest-django blocks DB access at import time
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Tasks queued by services (e.g. on commit) run inline in tests.
CELERY_TASK_ALWAYS_EAGER = True
