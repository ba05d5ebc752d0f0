"""Settings built in a fresh interpreter for each stack mode, as a process would see them."""

import json
import subprocess

import pytest

from tests.conftest import PYTHON, ROOT, subprocess_env

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as c:
    vendor = connection.vendor
    if vendor == "sqlite":
        c.execute("PRAGMA journal_mode"); journal = c.fetchone()[0]
    else:
        journal = None
print(json.dumps({
    "mode": settings.STACK_MODE,
    "db_vendor": vendor,
    "journal": journal,
    "cache": settings.CACHES["default"]["BACKEND"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "inprocess_jobs": settings.INPROCESS_JOBS,
    "broker": settings.CELERY_BROKER_URL,
}))
"""


def _probe(**env) -> dict:
    result = subprocess.run(
        [PYTHON, "-c", PROBE],
        cwd=ROOT,
        env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.dev", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_uses_sqlite_wal_memory_layer_and_inprocess_jobs():
    facts = _probe(DATABASE_URL=None, REDIS_URL=None)
    assert facts == {
        "mode": "embedded",
        "db_vendor": "sqlite",
        "journal": "wal",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "layer": "channels.layers.InMemoryChannelLayer",
        "eager": True,
        "inprocess_jobs": True,
        "broker": "memory://",
    }


def test_real_stack_uses_postgres_redis_cache_redis_layer_and_celery():
    facts = _probe(DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres", REDIS_URL="redis://127.0.0.1:6379/15")
    assert facts == {
        "mode": "real",
        "db_vendor": "postgresql",
        "journal": None,
        "cache": "django.core.cache.backends.redis.RedisCache",
        "layer": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "eager": False,
        "inprocess_jobs": False,
        "broker": "redis://127.0.0.1:6379/15",
    }


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_settings_refuse_to_start_without(missing):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.prod", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "ex.example"}
    env[missing] = None
    result = subprocess.run(
        [PYTHON, "manage.py", "check"], cwd=ROOT, env=subprocess_env(**env), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"{missing} must be set in production" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        SECRET_KEY="prod-test-" + "k3y!" * 15,
        ALLOWED_HOSTS="exchange.example.com",
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
